package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/inference"
)

// Timings of the server, with their reasons.
const (
	// readTimeout bounds reading a request: a peer that opens a stream and
	// sends nothing (or a 16 MiB frame very slowly) must not hold it.
	readTimeout = 10 * time.Second
	// writeTimeout bounds writing the answer to a peer that stopped reading.
	writeTimeout = 10 * time.Second
	// DefaultTimeout is a request's budget when its sender gave none (and
	// the Catalog's when the caller's context has no deadline).
	DefaultTimeout = 30 * time.Second
)

// Server answers infer requests from the mesh out of a local catalog. It is
// safe for concurrent use.
type Server struct {
	h     host.Host
	proto protocol.ID
	local inference.Catalog
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	inflight map[string]int // requests being answered, per model
}

// Serve registers the infer protocol on n's host, answering from local
// (which must be the node's own models, never a forwarding Catalog: a
// request is forwarded at most once). Close removes it.
func Serve(n *mesh.Node, local inference.Catalog, log *slog.Logger) *Server {
	return ServeHost(n.Host(), n.Protocol(ProtocolName), local, log)
}

// ServeHost is Serve on a bare host and protocol id.
func ServeHost(h host.Host, proto protocol.ID, local inference.Catalog, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{h: h, proto: proto, local: local, log: log, ctx: ctx, cancel: cancel, inflight: map[string]int{}}
	h.SetStreamHandler(proto, s.handle)
	return s
}

// InFlight is the number of mesh requests for name being answered now.
func (s *Server) InFlight(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[name]
}

// Close removes the protocol handler, ends the requests being answered
// (their contexts are cancelled) and waits for them. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(s.proto)
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) begin(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	s.inflight[name]++
	return true
}

func (s *Server) end(name string) {
	s.mu.Lock()
	if s.inflight[name]--; s.inflight[name] <= 0 {
		delete(s.inflight, name)
	}
	s.mu.Unlock()
	s.wg.Done()
}

func (s *Server) handle(st network.Stream) {
	defer st.Close()
	from := st.Conn().RemotePeer().String()
	_ = st.SetReadDeadline(time.Now().Add(readTimeout))
	b, err := readFrame(st, MaxFrameSize)
	if err != nil {
		s.log.Debug("infer request unreadable", "from", from, "err", err)
		_ = st.Reset()
		return
	}
	rq, err := decodeRequest(b)
	if err != nil {
		s.log.Debug("infer request refused", "from", from, "err", err)
		s.reply(st, errorResponse(fmt.Errorf("%w: %v", inference.ErrBadInput, err)))
		return
	}
	if !s.begin(rq.Model) {
		s.reply(st, errorResponse(fmt.Errorf("%w: shutting down", inference.ErrNotReady)))
		return
	}
	defer s.end(rq.Model)
	timeout := rq.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	start := time.Now()
	rs := s.answer(ctx, rq)
	s.log.Debug("infer request answered", "from", from, "model", rq.Model, "version", rq.Version,
		"inputs", len(rq.Texts)+len(rq.Vectors), "status", rs.Status, "took", time.Since(start))
	s.reply(st, rs)
}

func (s *Server) reply(st network.Stream, rs response) {
	b, err := encodeResponse(rs)
	if err != nil {
		b, _ = encodeResponse(errorResponse(fmt.Errorf("cannot encode the answer: %v", err)))
	}
	_ = st.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := writeFrame(st, b); err != nil {
		s.log.Debug("infer answer not sent", "err", err)
		_ = st.Reset()
	}
}

func errorResponse(err error) response {
	return response{Status: statusError, ErrKind: errorKind(err), ErrMsg: err.Error()}
}

// answer runs one request against the local catalog.
func (s *Server) answer(ctx context.Context, rq request) response {
	m, err := s.local.Lookup(rq.Model, rq.Version, rq.Label)
	if err != nil {
		return errorResponse(err)
	}
	if rq.Op == opMetadata {
		labels, err := s.local.Labels(rq.Model)
		if err != nil {
			labels = map[string]int{}
		}
		return response{Status: statusMetadata, Meta: metadata{Name: m.Name(), Version: m.Version(), Sig: m.Signature(), Labels: labels}}
	}
	var inputs []inference.Input
	for _, t := range rq.Texts {
		inputs = append(inputs, t)
	}
	for _, v := range rq.Vectors {
		inputs = append(inputs, v)
	}
	for i, in := range inputs {
		if err := m.Check(in); err != nil {
			return errorResponse(fmt.Errorf("input %d: %w", i+1, err))
		}
	}
	preds, err := m.Predict(ctx, inputs)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) && s.ctx.Err() == nil {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return errorResponse(err)
	}
	if len(preds) != len(inputs) {
		return errorResponse(fmt.Errorf("model gave %d answers for %d inputs", len(preds), len(inputs)))
	}
	return response{Status: statusPredictions, Preds: preds}
}
