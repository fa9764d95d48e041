package modelserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/kserve"
	"github.com/shoalmesh/shoal/serve/tfserving"
)

// Defaults and limits of the listener, with their reasons.
const (
	// DefaultAddr is TensorFlow Serving's REST port, on loopback.
	DefaultAddr = "127.0.0.1:8501"
	// DefaultMaxBodyBytes fits a batch of a few thousand MNIST images as
	// JSON numbers; larger requests should be split.
	DefaultMaxBodyBytes = 16 << 20
	// readHeaderTimeout stops a client that opens a connection and sends
	// nothing from holding it.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes kept-alive connections nobody uses; load
	// generators and SDKs keep theirs busy.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes: a token and a few headers need far less.
	maxHeaderBytes = 64 << 10
	// shutdownGrace bounds how long in-flight requests may finish on Close.
	shutdownGrace = 5 * time.Second
)

// Config configures Start. Catalog is required.
type Config struct {
	// Addr is host:port; default DefaultAddr. Port 0 picks a free port.
	Addr string
	// AllowNonLoopback permits a non-loopback Addr (plain HTTP: requests,
	// answers and any token cross the network in clear text).
	AllowNonLoopback bool
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every route but /v2/health/*.
	Token string
	// Catalog holds the models served.
	Catalog inference.Catalog
	// Registry receives the server's metrics and is what /metrics shows;
	// default a fresh registry of the server's own.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies; default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Version is reported in KServe's server metadata.
	Version string
	Logger  *slog.Logger
	// BenchCeiling, a benchmark aid and off by default, adds POST
	// CeilingPath: it reads the whole body (up to MaxBodyBytes) and answers
	// a fixed small JSON object, behind the same token, metrics and
	// listener as the model routes. A load generator sending it the same
	// body as a :predict measures what HTTP alone costs on those cores
	// (cmd/bench-serve), so a predict rate can be put against it.
	BenchCeiling bool
	// ErrorBudget slows down the error answers of a client that keeps
	// getting them (see errorBudget); the zero value takes the defaults,
	// a negative Rate turns it off.
	ErrorBudget ErrorBudget
}

// CeilingPath is the route Config.BenchCeiling adds.
const CeilingPath = "/v1/ceiling"

// ceilingAnswer is what CeilingPath answers.
const ceilingAnswer = `{"ok":true}` + "\n"

// Server is a running model server.
type Server struct {
	srv    *http.Server
	addr   net.Addr
	log    *slog.Logger
	served chan struct{}
	failed chan error

	closeOnce sync.Once
	closeErr  error
}

// Start binds the listener and serves on a goroutine of its own until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("model server: no catalog")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if err := serve.CheckLoopback(addr, cfg.AllowNonLoopback); err != nil {
		return nil, fmt.Errorf("model server: %w", err)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: listenControl}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("model server: listen on %s: %w", addr, err)
	}
	if err := serve.CheckLoopback(ln.Addr().String(), cfg.AllowNonLoopback); err != nil {
		ln.Close()
		return nil, fmt.Errorf("model server: %w", err)
	}
	if cfg.AllowNonLoopback {
		log.Warn("model server listens beyond loopback over plain HTTP", "addr", ln.Addr().String(), "token", cfg.Token != "")
	}
	s := &Server{addr: ln.Addr(), log: log, served: make(chan struct{}), failed: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("model server listening", "addr", ln.Addr().String(), "token", cfg.Token != "")
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.failed <- fmt.Errorf("model server: %w", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.addr }

// Failed delivers the error that stopped the server on its own.
func (s *Server) Failed() <-chan error { return s.failed }

// Close stops taking connections and lets requests in flight finish for up
// to shutdownGrace. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		err := s.srv.Shutdown(ctx)
		<-s.served
		if err != nil {
			s.srv.Close()
			s.closeErr = fmt.Errorf("model server: shutdown: %w", err)
			return
		}
		s.log.Info("model server stopped")
	})
	return s.closeErr
}

// NewHandler is the server's routes without a listener: /v1 (TF Serving),
// /v2 (KServe), /metrics, behind the optional token and the request
// metrics.
func NewHandler(cfg Config) (http.Handler, error) { return newHandler(cfg, nil) }

// newHandler is NewHandler; tune, when set, adjusts the error budget
// (a test's clock and sleep).
func newHandler(cfg Config, tune func(*errorBudget)) (http.Handler, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("model server: no catalog")
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	limit := cfg.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v1 := tfserving.NewHandler(cfg.Catalog, tfserving.Options{MaxBodyBytes: limit, Logger: log})
	v2 := kserve.NewHandler(cfg.Catalog, kserve.Options{MaxBodyBytes: limit, Logger: log, ServerVersion: cfg.Version})
	mux := http.NewServeMux()
	mux.Handle("/v1/", v1)
	mux.Handle("/v2/", v2)
	mux.Handle("/v2", v2)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if cfg.BenchCeiling {
		mux.Handle("POST "+CeilingPath, ceilingHandler(limit))
	}
	var tokenSum [sha256.Size]byte
	if cfg.Token != "" {
		tokenSum = sha256.Sum256([]byte(cfg.Token))
	}
	budget := newErrorBudget(cfg.ErrorBudget)
	if budget != nil {
		budget.observe = m.penalties
		if tune != nil {
			tune(budget)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orig := w
		if budget != nil {
			w = &budgetWriter{ResponseWriter: w, r: r, budget: budget}
			budget.slowDown(r)
		}
		if cfg.Token != "" && !strings.HasPrefix(r.URL.Path, "/v2/health/") && !authorized(r, tokenSum) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shoal"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"missing or wrong bearer token"}` + "\n"))
			return
		}
		// A body declared over the cap is refused before a byte of it is
		// read, so a client flooding the server with huge bodies costs it
		// a header each, not 16 MiB of reading (measured in testnet/fault
		// TestSoakServe).
		if r.ContentLength > limit {
			refuseUnread(orig, r, budget, fmt.Sprintf("request body of %d bytes is over the limit of %d", r.ContentLength, limit))
			return
		}
		m.serve(mux, w, r)
	}), nil
}

// ceilingHandler reads the body and answers ceilingAnswer: the least a
// route can do with a request, for Config.BenchCeiling.
func ceilingHandler(limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit)); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"error":"request body too large"}` + "\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(ceilingAnswer))
	})
}

// authorized compares the bearer token in constant time, hashed first so
// neither its content nor its length leaks through timing.
func authorized(r *http.Request, want [sha256.Size]byte) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// metrics are the per-request series: what was asked of which model and
// version (as requested: "latest" when none was named), how it ended and
// how long it took.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// penalties counts the error answers the error budget held back
	// ("held") or, too many being held, answered at once and closed
	// ("closed").
	penalties *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "serve", Name: "requests_total",
			Help: "Model server requests by API, model, requested version, method and status code.",
		}, []string{"api", "model", "version", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "shoal", Subsystem: "serve", Name: "request_seconds",
			Help:    "Model server request latency by API, model, requested version and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"api", "model", "version", "method"}),
		penalties: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "shoal", Subsystem: "serve", Name: "error_penalties_total",
			Help: "Error answers to clients over their error budget: held back (held), or answered at once with the connection closed because too many were held (closed).",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.penalties} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("model server metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	api, model, version, method := routeOf(r.URL.Path)
	if api == "" {
		h.ServeHTTP(w, r)
		return
	}
	ctx, rt := inference.WithRoute(r.Context())
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK, route: rt}
	start := time.Now()
	h.ServeHTTP(rec, r.WithContext(ctx))
	m.latency.WithLabelValues(api, model, version, method).Observe(time.Since(start).Seconds())
	m.requests.WithLabelValues(api, model, version, method, strconv.Itoa(rec.status)).Inc()
}

// routeOf names a request for the metrics: the API (v1, v2), the model,
// the version or label asked for, and the method (status, metadata,
// predict, classify, regress, infer, ready, health, server). Unknown
// model names are folded into "" past a length, so a scan of made-up
// names cannot grow the series without bound beyond what the catalog's
// 404s already show.
func routeOf(path string) (api, model, version, method string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 0 || (parts[0] != "v1" && parts[0] != "v2") {
		return "", "", "", ""
	}
	if path == CeilingPath {
		return "v1", "", "", "ceiling"
	}
	api, version, method = parts[0], "latest", "status"
	if api == "v2" {
		method = "server"
		if len(parts) >= 2 && parts[1] == "health" {
			return api, "", "", "health"
		}
	}
	if len(parts) < 3 || parts[1] != "models" {
		return api, "", "", method
	}
	model = parts[2]
	rest := parts[3:]
	if i := strings.LastIndexByte(model, ':'); i >= 0 && len(rest) == 0 {
		model, method = model[:i], model[i+1:]
	}
	if len(rest) >= 2 && (rest[0] == "versions" || rest[0] == "labels") {
		version = rest[1]
		if i := strings.LastIndexByte(version, ':'); i >= 0 {
			version, method = version[:i], version[i+1:]
		}
		rest = rest[2:]
	}
	if len(rest) > 0 {
		method = rest[len(rest)-1]
	} else if api == "v2" && method == "server" {
		method = "metadata"
	}
	if len(model) > 64 {
		model = ""
	}
	if len(version) > 64 {
		version = ""
	}
	return api, model, version, method
}

// statusWriter records the status code, and names the peer that answered
// (inference.ServedByHeader) when a model forwarded the request over the
// mesh: the front-ends write their answer after Predict, so the route is
// known by the time the header goes out.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	route  *inference.Route
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
		if p := s.route.Peer(); p != "" {
			s.Header().Set(inference.ServedByHeader, p)
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
