package avg

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolName is the stream protocol, under the mesh's prefix (see
// mesh.Node.Protocol), that carries parameter exchanges and fetches of a
// job's final vector. Members of other meshes do not even share its id.
const ProtocolName = "params/1.0.0"

// Service serves the params protocol on one host and routes streams to the jobs that
// joined it: a host has one handler per protocol, a node may run several jobs.
type Service struct {
	h     host.Host
	proto protocol.ID
	mu    sync.Mutex
	jobs  map[string]*Averager
}

// NewService registers the stream handler for proto (the mesh's full id of
// ProtocolName) on h.
func NewService(h host.Host, proto protocol.ID) *Service {
	s := &Service{h: h, proto: proto, jobs: map[string]*Averager{}}
	h.SetStreamHandler(proto, s.handle)
	return s
}

// Close removes the stream handler. Averagers of this service stop serving.
func (s *Service) Close() {
	s.h.RemoveStreamHandler(s.proto)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.jobs {
		a.closed.Store(true)
	}
	s.jobs = map[string]*Averager{}
}

// Join starts averaging params (for example engine/nn Model.Params(), which
// is averaged in place) in job jobID.
func (s *Service) Join(jobID string, params []float32, cfg Config) (*Averager, error) {
	if jobID == "" || len(jobID) > MaxJobIDLen {
		return nil, fmt.Errorf("avg: job id must be 1..%d bytes", MaxJobIDLen)
	}
	if len(params) == 0 || len(params) > MaxVectorLen {
		return nil, fmt.Errorf("avg: %d parameters outside [1, %d]", len(params), MaxVectorLen)
	}
	if cfg.Encoding != 0 && !cfg.Encoding.valid() {
		return nil, fmt.Errorf("avg: unknown encoding %d", cfg.Encoding)
	}
	if cfg.ConsensusEncoding != 0 && !cfg.ConsensusEncoding.valid() {
		return nil, fmt.Errorf("avg: unknown consensus encoding %d", cfg.ConsensusEncoding)
	}
	cfg.fill()
	n := len(params)
	a := &Averager{
		svc:    s,
		self:   s.h.ID(),
		job:    jobID,
		cfg:    cfg,
		params: params,
		sem:    make(chan struct{}, 1),
		snap:   make([]float32, n),
		send:   make([]float32, n),
		sdec:   make([]float32, n),
		theirs: make([]float32, n),
		avg:    make([]float32, n),
		rep:    map[peer.ID]float64{},
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x5ca1ab1e)),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[jobID]; dup {
		return nil, fmt.Errorf("avg: job %q already joined on this host", jobID)
	}
	s.jobs[jobID] = a
	return a, nil
}

func (s *Service) lookup(job string) *Averager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[job]
}

// handle is the stream handler: it reads the first header and routes to the
// job's averager, which answers a push (serve) or a fetch (serveFinal).
func (s *Service) handle(str network.Stream) {
	defer func() { _ = str.Close() }()
	_ = str.SetDeadline(time.Now().Add(firstHeaderTimeout))
	cs := &countingStream{Stream: str}
	h, err := readHeader(cs)
	if err != nil {
		_ = str.Reset()
		return
	}
	a := s.lookup(h.Job)
	if a == nil {
		refuse(cs, stUnknownJob, h.Job)
		return
	}
	switch h.Kind {
	case kindPush:
		_ = str.SetDeadline(time.Now().Add(a.exchangeTimeout()))
		a.serve(cs, &h)
	case kindFetch:
		_ = str.SetDeadline(time.Now().Add(a.cfg.Timeout))
		a.serveFinal(cs)
	default:
		refuse(cs, stProtocol, "expected push or fetch, got "+h.Kind.String())
	}
	a.addBytes(cs)
}
