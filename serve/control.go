package serve

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// Node is what the control API needs from a running node. The mesh node
// satisfies it through FromMesh; tests use a fake.
//
// Concurrency contract: all methods may be called from many goroutines at
// once. Self and Peers return copies the caller may keep. Subscribe returns a
// channel of events and a cancel function; after cancel the node must stop
// sending and release the subscription (closing the channel is allowed but
// not required). A node must never block on a subscriber: the control API
// drains the channel promptly, but a node should drop events for a full
// channel rather than wait.
type Node interface {
	Self() controlapi.Peer
	Peers() []controlapi.Peer
	Subscribe() (<-chan controlapi.Event, func())
}

// Limits and timings of the control API, with their reasons.
const (
	// MaxRequestBytes caps request bodies (for POST routes such as jobs).
	MaxRequestBytes = 1 << 20
	// defaultHeartbeat keeps idle event streams alive through proxies and
	// lets the server notice a vanished client within one period.
	defaultHeartbeat = 15 * time.Second
	// defaultEventBuffer is how far a client may fall behind the node
	// before it is disconnected (it then reconnects and re-reads /peers).
	defaultEventBuffer = 256
	// eventWriteTimeout bounds one write to an event stream, so a client
	// that stops reading does not hold the handler forever.
	eventWriteTimeout = 10 * time.Second
)

// HandlerOption configures NewControlHandler.
type HandlerOption func(*ControlHandler)

// WithHeartbeat sets the period of heartbeat comments on event streams.
func WithHeartbeat(d time.Duration) HandlerOption {
	return func(h *ControlHandler) {
		if d > 0 {
			h.heartbeat = d
		}
	}
}

// WithEventBuffer sets how many events may queue for one slow client before
// the server drops that client.
func WithEventBuffer(n int) HandlerOption {
	return func(h *ControlHandler) {
		if n > 0 {
			h.eventBuffer = n
		}
	}
}

// WithLogger sets the handler's logger (default: discard).
func WithLogger(l *slog.Logger) HandlerOption {
	return func(h *ControlHandler) {
		if l != nil {
			h.log = l
		}
	}
}

// ControlHandler serves the control API. Every route, registered or not,
// requires the bearer token. More routes (jobs, models) are added with Handle
// before the handler starts serving.
type ControlHandler struct {
	node        Node
	tokenSum    [sha256.Size]byte
	mux         *http.ServeMux
	heartbeat   time.Duration
	eventBuffer int
	log         *slog.Logger
}

// NewControlHandler returns the control API for node, guarded by token
// (which must not be empty: with an empty token every request is refused).
func NewControlHandler(node Node, token string, opts ...HandlerOption) *ControlHandler {
	h := &ControlHandler{
		node:        node,
		tokenSum:    sha256.Sum256([]byte(token)),
		mux:         http.NewServeMux(),
		heartbeat:   defaultHeartbeat,
		eventBuffer: defaultEventBuffer,
		log:         slog.New(slog.DiscardHandler),
	}
	if token == "" {
		h.tokenSum = [sha256.Size]byte{} // matches no request: see authorized
	}
	for _, o := range opts {
		o(h)
	}
	h.Handle("GET "+controlapi.PathSelf, http.HandlerFunc(h.self))
	h.Handle("GET "+controlapi.PathPeers, http.HandlerFunc(h.peers))
	h.Handle("GET "+controlapi.PathEvents, http.HandlerFunc(h.events))
	return h
}

// Handle registers handler for pattern (net/http ServeMux syntax, e.g.
// "POST /api/v1/jobs"). The handler runs after authentication, with the
// request body capped at MaxRequestBytes; use DecodeRequest to read JSON.
// Like ServeMux.Handle it panics on a conflicting pattern, and it must not be
// called once the handler serves requests.
func (h *ControlHandler) Handle(pattern string, handler http.Handler) {
	h.mux.Handle(pattern, handler)
}

// ServeHTTP authenticates the request and dispatches it.
func (h *ControlHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
		WriteError(w, http.StatusUnauthorized, "wrong or missing API token")
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	}
	// The mux answers unknown paths and wrong methods in plain text; answer
	// them in the API's JSON error form instead.
	if _, pattern := h.mux.Handler(r); pattern == "" {
		rec := &statusRecorder{header: http.Header{}}
		h.mux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := rec.status
		if status == 0 || status == http.StatusOK {
			status = http.StatusNotFound
		}
		msg := "no such route: " + r.Method + " " + r.URL.Path
		if status == http.StatusMethodNotAllowed {
			msg = "method " + r.Method + " not allowed on " + r.URL.Path
		}
		WriteError(w, status, msg)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized compares the bearer token in constant time. Both sides are
// hashed first so neither the content nor the length of the token leaks
// through timing.
func (h *ControlHandler) authorized(r *http.Request) bool {
	if h.tokenSum == ([sha256.Size]byte{}) {
		return false
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

func (h *ControlHandler) self(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, cleanPeer(h.node.Self()))
}

func (h *ControlHandler) peers(w http.ResponseWriter, r *http.Request) {
	ps := h.node.Peers()
	out := controlapi.PeersResponse{Peers: make([]controlapi.Peer, 0, len(ps))}
	for _, p := range ps {
		out.Peers = append(out.Peers, cleanPeer(p))
	}
	WriteJSON(w, http.StatusOK, out)
}

// errSlowClient ends an event stream whose client fell too far behind.
var errSlowClient = errors.New("event client too slow")

// validEventType keeps event types safe to put on an SSE "event:" line.
var validEventType = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

func (h *ControlHandler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	src, unsubscribe := h.node.Subscribe()
	defer unsubscribe()

	ctx, stop := context.WithCancelCause(r.Context())
	defer stop(nil)

	// The forwarder drains the node's channel at the node's pace, whatever
	// the client does; a client that lets eventBuffer events pile up is cut
	// off rather than allowed to hold the node back.
	queue := make(chan controlapi.Event, h.eventBuffer)
	go func() {
		defer close(queue)
		for {
			select {
			case ev, ok := <-src:
				if !ok {
					return
				}
				select {
				case queue <- ev:
				default:
					stop(errSlowClient)
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	// A write blocked on a client that stopped reading does not see ctx;
	// a deadline in the past interrupts it at once when the stream must end
	// (client dropped as too slow, server shutting down).
	out := &sseWriter{ctx: ctx, w: w, rc: rc}
	stopWrites := context.AfterFunc(ctx, out.interrupt)
	defer stopWrites()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// An opening comment gets the headers to the client now, so Events()
	// returns as soon as the subscription exists.
	if err := out.write(": shoal events\n\n"); err != nil {
		return
	}

	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); errors.Is(cause, errSlowClient) {
				h.log.Warn("control API: dropping slow event client", "remote", r.RemoteAddr)
			}
			return
		case ev, ok := <-queue:
			if !ok {
				return // the node closed the subscription (shutting down)
			}
			frame, err := encodeEvent(ev)
			if err != nil {
				h.log.Warn("control API: skipping event", "type", ev.Type, "err", err)
				continue
			}
			if err := out.write(frame); err != nil {
				return
			}
		case <-tick.C:
			if err := out.write(": ping\n\n"); err != nil {
				return
			}
		}
	}
}

// sseWriter writes frames of one event stream. Its lock orders the
// per-write deadline against interrupt, so an interrupt is never undone by a
// write that starts just after it.
type sseWriter struct {
	ctx context.Context
	w   http.ResponseWriter
	rc  *http.ResponseController
	mu  sync.Mutex
}

func (s *sseWriter) write(frame string) error {
	s.mu.Lock()
	if err := s.ctx.Err(); err != nil {
		s.mu.Unlock()
		return err
	}
	// Not every ResponseWriter supports deadlines (httptest.ResponseRecorder
	// does not); the heartbeat and the request context still end the stream.
	_ = s.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	s.mu.Unlock()
	if _, err := io.WriteString(s.w, frame); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.rc.SetWriteDeadline(time.Now())
}

// encodeEvent renders one SSE frame: "event: TYPE\ndata: JSON\n\n".
// encoding/json escapes newlines, so the data is always one line.
func encodeEvent(ev controlapi.Event) (string, error) {
	if !validEventType.MatchString(ev.Type) {
		return "", fmt.Errorf("invalid event type %q", ev.Type)
	}
	if ev.Peer != nil {
		p := cleanPeer(*ev.Peer)
		ev.Peer = &p
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	frame := "event: " + ev.Type + "\ndata: " + string(data) + "\n\n"
	// Clients refuse frames over MaxEventBytes and end the stream; better
	// to skip one event here than to break every client's stream.
	if len(frame) > controlapi.MaxEventBytes {
		return "", fmt.Errorf("event frame of %d bytes exceeds the %d-byte limit", len(frame), controlapi.MaxEventBytes)
	}
	return frame, nil
}

// cleanPeer makes a peer safe and stable to encode: JSON has no NaN or Inf
// (json.Marshal would fail on a bad load average), and nil slices become []
// so clients never see null.
func cleanPeer(p controlapi.Peer) controlapi.Peer {
	if math.IsNaN(p.Load) || math.IsInf(p.Load, 0) {
		p.Load = 0
	}
	if p.Models == nil {
		p.Models = []string{}
	}
	if p.Jobs == nil {
		p.Jobs = []string{}
	}
	if p.Addrs == nil {
		p.Addrs = []string{}
	}
	return p
}

// WriteJSON writes v as a JSON answer with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// WriteError writes {"error": msg} with the given status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	data, _ := json.Marshal(controlapi.ErrorResponse{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// DecodeRequest reads a JSON request body into v, rejecting bodies over
// limit bytes (MaxRequestBytes when limit <= 0), unknown fields and trailing
// data. On error it has already answered 400 or 413 and returns the error.
func DecodeRequest(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if limit <= 0 || limit > MaxRequestBytes {
		limit = MaxRequestBytes
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		err := fmt.Errorf("content type %q, want application/json", ct)
		WriteError(w, http.StatusUnsupportedMediaType, err.Error())
		return err
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if err := controlapi.DecodeJSONStrict(body, limit, v); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, controlapi.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		WriteError(w, status, "request body: "+err.Error())
		return err
	}
	return nil
}

// statusRecorder captures the mux's own 404/405 answers so ServeHTTP can
// rewrite them as JSON.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
