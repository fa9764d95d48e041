package kserve

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/serve/inference"
)

// Defaults for Options.
const (
	// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes
	// is not set.
	DefaultMaxBodyBytes = 16 << 20
	// DefaultMaxBatch bounds the batch of one request when
	// Options.MaxBatch is not set: what one Model.Predict call of a loaded
	// artifact takes.
	DefaultMaxBatch = artifact.MaxBatch
	// DefaultServerName and DefaultServerVersion answer GET /v2 when
	// Options leave them empty.
	DefaultServerName    = "shoal"
	DefaultServerVersion = "dev"
	// Platform is every model's "platform" in its metadata.
	Platform = "shoal"
)

// Options configure the handler. The zero value is usable.
type Options struct {
	// MaxBodyBytes bounds each request body; a larger one is answered
	// 413. DefaultMaxBodyBytes when <= 0.
	MaxBodyBytes int64
	// MaxBatch bounds the batch dimension of one request; a larger one is
	// answered 400. DefaultMaxBatch when <= 0.
	MaxBatch int
	// Timeout, when > 0, bounds each inference on top of whatever
	// deadline its context already has; one that runs past it is answered
	// 504.
	Timeout time.Duration
	// Logger receives a line for each failed request: Warn for answers of
	// 500 and above, Debug for the others. Nil discards.
	Logger *slog.Logger
	// ServerName and ServerVersion are GET /v2's "name" and "version"
	// (DefaultServerName and DefaultServerVersion when empty).
	ServerName, ServerVersion string
	// Extensions is GET /v2's "extensions"; none when nil. The handler
	// implements none of the protocol's optional extensions.
	Extensions []string
}

type handler struct {
	cat      inference.Catalog
	maxBody  int64
	maxBatch int
	timeout  time.Duration
	log      *slog.Logger
	server   ServerMetadata
}

// NewHandler returns an http.Handler for the KServe v2 (Open Inference
// Protocol) REST API over the models of c. It answers /v2 and every path
// under /v2/ (mount it at both, with the path unstripped); other paths get
// 404. It is safe for concurrent use.
func NewHandler(c inference.Catalog, opts Options) http.Handler {
	h := &handler{cat: c, maxBody: opts.MaxBodyBytes, maxBatch: opts.MaxBatch, timeout: opts.Timeout, log: opts.Logger}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.maxBatch <= 0 {
		h.maxBatch = DefaultMaxBatch
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.server = ServerMetadata{Name: opts.ServerName, Version: opts.ServerVersion, Extensions: append([]string{}, opts.Extensions...)}
	if h.server.Name == "" {
		h.server.Name = DefaultServerName
	}
	if h.server.Version == "" {
		h.server.Version = DefaultServerVersion
	}
	return h
}

// apiError is an answer other than 200. body, when set, is the answer
// instead of {"error": msg} (a model-ready answer of false).
type apiError struct {
	status int
	msg    string
	body   any
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, format, args...)
}

// statusOf maps an error from a Catalog or a Model to a status code.
func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.Is(err, inference.ErrModelNotFound), errors.Is(err, inference.ErrVersionNotFound):
		return http.StatusNotFound
	case errors.Is(err, inference.ErrBadInput):
		return http.StatusBadRequest
	case errors.Is(err, inference.ErrOverloaded):
		return http.StatusTooManyRequests
	case errors.Is(err, inference.ErrNotReady):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return 499 // client closed the request
	default:
		return http.StatusInternalServerError
	}
}

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, v, err := h.serve(w, r)
	if err != nil {
		status = statusOf(err)
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelWarn
		}
		h.log.Log(r.Context(), level, "kserve request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		var ae *apiError
		if errors.As(err, &ae) && ae.body != nil {
			v = ae.body
		} else {
			v = errorBody{Error: err.Error()}
		}
	}
	writeJSON(w, status, v)
}

// writeJSON writes v as the answer; a value that cannot be encoded (a NaN
// from a model) turns into a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data, _ = json.Marshal(errorBody{Error: "encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

// serve routes one request. It returns the status and value of a
// successful answer, or an error.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) (int, any, error) {
	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		return 0, nil, newError(http.StatusNotFound, "unknown path %s", r.URL.Path)
	}
	get := func() error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			return newError(http.StatusMethodNotAllowed, "method %s not allowed on %s: use GET", r.Method, r.URL.Path)
		}
		return nil
	}
	switch {
	case len(segs) == 0:
		if err := get(); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, h.server, nil
	case len(segs) == 2 && segs[0] == "health" && segs[1] == "live":
		if err := get(); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, liveResponse{Live: true}, nil
	case len(segs) == 2 && segs[0] == "health" && segs[1] == "ready":
		if err := get(); err != nil {
			return 0, nil, err
		}
		if h.ready() {
			return http.StatusOK, readyResponse{Ready: true}, nil
		}
		return http.StatusServiceUnavailable, readyResponse{Ready: false}, nil
	case len(segs) >= 2 && segs[0] == "models":
	default:
		return 0, nil, newError(http.StatusNotFound, "unknown path %s", r.URL.Path)
	}

	// /v2/models/{m}[/versions/{v}][/ready|/infer]
	mr, err := parseModelPath(segs[1:])
	if err != nil {
		return 0, nil, err
	}
	if mr == nil {
		return 0, nil, newError(http.StatusNotFound, "unknown path %s", r.URL.Path)
	}
	switch mr.action {
	case "infer":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return 0, nil, newError(http.StatusMethodNotAllowed, "method %s not allowed on %s: use POST", r.Method, r.URL.Path)
		}
		v, err := h.infer(r, w, *mr)
		return http.StatusOK, v, err
	case "ready":
		if err := get(); err != nil {
			return 0, nil, err
		}
		v, err := h.modelReady(*mr)
		return http.StatusOK, v, err
	default:
		if err := get(); err != nil {
			return 0, nil, err
		}
		v, err := h.modelMetadata(*mr)
		return http.StatusOK, v, err
	}
}

// splitPath returns the escaped segments of a path after /v2 (none for
// /v2 and /v2/), or false for a path elsewhere.
func splitPath(escaped string) ([]string, bool) {
	rest, ok := strings.CutPrefix(escaped, "/v2")
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, false
	}
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return nil, true
	}
	return strings.Split(rest, "/"), true
}

// modelRoute is a parsed /v2/models path.
type modelRoute struct {
	model   string
	version int    // 0: the catalog's choice (newest loaded)
	action  string // "", "ready" or "infer"
}

// parseModelPath parses the escaped segments after /v2/models: nil for a
// path of another shape, an error for a bad name or version.
func parseModelPath(segs []string) (*modelRoute, error) {
	mr := &modelRoute{}
	if n := len(segs); n == 2 || n == 4 {
		switch segs[n-1] {
		case "ready", "infer":
			mr.action = segs[n-1]
			segs = segs[:n-1]
		default:
			return nil, nil
		}
	}
	switch {
	case len(segs) == 1:
	case len(segs) == 3 && segs[1] == "versions":
		v, err := strconv.Atoi(segs[2])
		if err != nil || v <= 0 {
			return nil, badRequest("version %q: a version is a positive integer", segs[2])
		}
		mr.version = v
	default:
		return nil, nil
	}
	name, err := url.PathUnescape(segs[0])
	if err != nil || name == "" {
		return nil, badRequest("model name %q: not a path segment", segs[0])
	}
	mr.model = name
	return mr, nil
}

// ServerMetadata answers GET /v2.
type ServerMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

type liveResponse struct {
	Live bool `json:"live"`
}

type readyResponse struct {
	Ready bool `json:"ready"`
}

// ModelReady answers GET /v2/models/{m}[/versions/{v}]/ready.
type ModelReady struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
}

// ready reports whether at least one model has a version loaded.
func (h *handler) ready() bool {
	for _, name := range h.cat.Names() {
		if _, err := h.cat.Lookup(name, 0, ""); err == nil {
			return true
		}
	}
	return false
}

// lookup finds the model version mr names.
func (h *handler) lookup(mr modelRoute) (inference.Model, error) {
	m, err := h.cat.Lookup(mr.model, mr.version, "")
	if err != nil {
		return nil, lookupError(mr, err)
	}
	return m, nil
}

// lookupError words a Catalog error for mr, keeping its status.
func lookupError(mr modelRoute, err error) error {
	what := fmt.Sprintf("model %q", mr.model)
	if mr.version > 0 {
		what = fmt.Sprintf("model %q version %d", mr.model, mr.version)
	}
	switch status := statusOf(err); {
	case errors.Is(err, inference.ErrModelNotFound):
		return newError(status, "model %q not found", mr.model)
	case status == http.StatusNotFound:
		return newError(status, "%s not found (not loaded, or it failed to load)", what)
	case status == http.StatusServiceUnavailable:
		return newError(status, "%s is not ready: %v", what, err)
	default:
		return newError(status, "%s: %v", what, err)
	}
}

// modelReady answers …/ready: 200 {"name", "ready": true}; 400 with ready
// false while the version loads (the protocol's 4xx for false); 404 for a
// model or version the catalog does not have.
func (h *handler) modelReady(mr modelRoute) (any, error) {
	if _, err := h.cat.Lookup(mr.model, mr.version, ""); err != nil {
		if errors.Is(err, inference.ErrNotReady) {
			return nil, &apiError{status: http.StatusBadRequest, msg: err.Error(), body: ModelReady{Name: mr.model, Ready: false}}
		}
		return nil, lookupError(mr, err)
	}
	return ModelReady{Name: mr.model, Ready: true}, nil
}

// newID makes an id for an answer whose request had none.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// readBody reads the whole body, at most h.maxBody bytes.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newError(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", h.maxBody)
		}
		return nil, badRequest("reading request body: %v", err)
	}
	return body, nil
}
