package serve

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
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

// Limits and timings of the control API, handler and listener, with their
// reasons: every default of package serve is here.
const (
	// MaxRequestBytes caps request bodies (for POST routes such as jobs).
	MaxRequestBytes = 1 << 20
	// defaultHeartbeat keeps idle event streams alive through proxies and
	// lets the server notice a vanished client within one period.
	defaultHeartbeat = 15 * time.Second
	// defaultEventBuffer is how far a client may fall behind the node
	// before it is disconnected (it then reconnects and re-reads /peers).
	defaultEventBuffer = 256
	// defaultEventRing is how many recent events are kept for clients that
	// reconnect with Last-Event-ID: a console away for a few seconds of a
	// busy job (a status per member every 500 ms) still resumes.
	defaultEventRing = 1024
	// eventWriteTimeout bounds one write to an event stream, so a client
	// that stops reading does not hold the handler forever.
	eventWriteTimeout = 10 * time.Second
	// MaxJobSpecBytes caps the body of POST /api/v1/jobs. An inline model
	// spec may take 256 KiB; the rest of a spec is a few hundred bytes.
	MaxJobSpecBytes = 512 << 10

	// shutdownGrace bounds how long in-flight requests may run after Close.
	shutdownGrace = 5 * time.Second
	// controlReadHeaderTimeout stops a client that opens a connection and
	// sends nothing from holding it (slowloris).
	controlReadHeaderTimeout = 10 * time.Second
	// controlIdleTimeout closes kept-alive connections nobody uses.
	controlIdleTimeout = 60 * time.Second
	// controlMaxHeaderBytes: a token and a few headers need far less.
	controlMaxHeaderBytes = 64 << 10
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

// WithEventRing sets how many recent events the handler keeps for clients
// that resume a stream with Last-Event-ID.
func WithEventRing(n int) HandlerOption {
	return func(h *ControlHandler) {
		if n > 0 {
			h.eventRing = n
		}
	}
}

// WithPeerUpdates sets how often the node's peers are compared for
// peer_updated events (also the least time between two events about one
// peer); 0 or less turns them off.
func WithPeerUpdates(d time.Duration) HandlerOption {
	return func(h *ControlHandler) { h.peerUpdates = max(0, d) }
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
	eventRing   int
	peerUpdates time.Duration
	hub         *eventHub
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
		eventRing:   defaultEventRing,
		peerUpdates: defaultPeerUpdateEvery,
		log:         slog.New(slog.DiscardHandler),
	}
	if token == "" {
		h.tokenSum = [sha256.Size]byte{} // matches no request: see authorized
	}
	for _, o := range opts {
		o(h)
	}
	h.hub = newEventHub(node, h.eventRing, h.eventBuffer, h.peerUpdates)
	h.Handle("GET "+controlapi.PathSelf, http.HandlerFunc(h.self))
	h.Handle("GET "+controlapi.PathPeers, http.HandlerFunc(h.peers))
	h.Handle("GET "+controlapi.PathEvents, http.HandlerFunc(h.events))
	h.Handle("POST "+controlapi.PathPeers+"/{id}/deny", http.HandlerFunc(h.deny))
	return h
}

// Close ends every event stream and releases the handler's subscription
// to the node's events (taken at the first stream). Other routes keep
// working. It is safe to call more than once.
func (h *ControlHandler) Close() { h.hub.Close() }

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
