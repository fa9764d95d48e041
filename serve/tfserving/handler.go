package tfserving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/serve/inference"
)

// Defaults for Options.
const (
	// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes
	// is not set.
	DefaultMaxBodyBytes = 16 << 20
	// DefaultMaxBatch bounds the inputs of one request when
	// Options.MaxBatch is not set: what one Model.Predict call of a loaded
	// artifact takes.
	DefaultMaxBatch = artifact.MaxBatch
)

// Options configure the handler. The zero value is usable.
type Options struct {
	// MaxBodyBytes bounds each request body; a larger one is answered
	// 413. DefaultMaxBodyBytes when <= 0.
	MaxBodyBytes int64
	// MaxBatch bounds the instances (or examples) of one request; more
	// are answered 400. DefaultMaxBatch when <= 0.
	MaxBatch int
	// Timeout, when > 0, bounds each request on top of whatever deadline
	// its context already has (TF Serving's --rest_api_timeout_in_ms); a
	// request that runs past it is answered 504.
	Timeout time.Duration
	// Logger receives a line for each failed request: Warn for answers of
	// 500 and above, Debug for the others. Nil discards.
	Logger *slog.Logger
}

// handler serves the TF Serving REST API v1 from a Catalog.
type handler struct {
	cat      inference.Catalog
	maxBody  int64
	maxBatch int
	timeout  time.Duration
	log      *slog.Logger
}

// NewHandler returns an http.Handler for TF Serving's REST API v1 over the
// models of c. It answers every path under /v1/ (mount it there, with the
// path unstripped); other paths get 404. It is safe for concurrent use.
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
	return h
}

// apiError is an answer other than 200: a status and TF Serving's message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func newError(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, format, args...)
}

// statusOf maps an error from a Catalog or a Model to TF Serving's status
// code for it.
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
		return 499 // TF Serving's CLIENT_CLOSED_REQUEST
	default:
		return http.StatusInternalServerError
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v, err := h.serve(w, r)
	if err != nil {
		status := statusOf(err)
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelWarn
		}
		h.log.Log(r.Context(), level, "tfserving request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		writeJSON(w, status, errorBody{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// errorBody is every error answer: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v as the answer. Values that cannot be encoded (a NaN
// from a model) turn into a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := encodeBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledAnswer {
			encodeBufs.Put(bp)
		}
	}()
	data, ok := appendAnswer((*bp)[:0], v)
	if ok {
		*bp = data
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			status = http.StatusInternalServerError
			data, _ = json.Marshal(errorBody{Error: "encode answer: " + err.Error()})
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
	if ok {
		*bp = data[:0]
	}
}

// serve routes one request and returns the answer's value or an error.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) (any, error) {
	rt, ok, err := parseRoute(r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	if !ok {
		if _, under := cutPrefixFold(r.URL.EscapedPath(), "/v1/"); !under {
			return nil, newError(http.StatusNotFound, "Not found: %s %s", r.Method, r.URL.Path)
		}
		return nil, badRequest("Malformed request: %s %s", r.Method, r.URL.Path)
	}
	if rt.verb != "" {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			return nil, newError(http.StatusMethodNotAllowed, "Method %s not allowed on %s: use POST", r.Method, r.URL.Path)
		}
		ctx := r.Context()
		if h.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, h.timeout)
			defer cancel()
		}
		body, err := h.readBody(w, r)
		if err != nil {
			return nil, err
		}
		switch rt.verb {
		case verbPredict:
			return h.predict(ctx, rt, body)
		default:
			return h.classifyOrRegress(ctx, rt, body)
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return nil, newError(http.StatusMethodNotAllowed, "Method %s not allowed on %s: use GET", r.Method, r.URL.Path)
	}
	if rt.metadata {
		return h.metadata(rt)
	}
	return h.status(rt)
}

// readBody reads the whole body, at most h.maxBody bytes, into a buffer
// of the declared Content-Length where there is one (io.ReadAll would
// grow its buffer from 512 bytes, copying the body several times).
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readAll(http.MaxBytesReader(w, r.Body, h.maxBody), min(r.ContentLength, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, newError(http.StatusRequestEntityTooLarge, "Request body larger than %d bytes", h.maxBody)
		}
		return nil, badRequest("Reading request body: %v", err)
	}
	return body, nil
}

// readAll is io.ReadAll with a first buffer of size+1 bytes when size >
// 0, so that a body of size bytes is read without growing it (the one
// byte more takes the read that meets EOF). A body of unknown size is
// read by readUnsized.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return readUnsized(r)
	}
	b := make([]byte, 0, int(size)+1)
	for {
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// bodyChunk is the piece readUnsized reads a body into.
const bodyChunk = 64 << 10

var bodyChunks = sync.Pool{New: func() any { return new([bodyChunk]byte) }}

// readUnsized reads a body sent without a length (chunked) into pooled
// chunks and copies it into one buffer of its size only once it has
// ended. io.ReadAll's doubling buffer leaves each smaller buffer behind
// as garbage, about twice the body, and for a body that turns out to be
// over the limit all of it was for nothing: a client streaming 17 MiB
// bodies cost the server 32 MiB of fresh heap each (testnet/fault
// TestSoakServe). Here such a body costs chunks the next request reuses.
func readUnsized(r io.Reader) ([]byte, error) {
	var chunks []*[bodyChunk]byte
	defer func() {
		for _, c := range chunks {
			bodyChunks.Put(c)
		}
	}()
	total, last := 0, bodyChunk // bytes in all, in the last chunk
	for {
		if last == bodyChunk {
			chunks = append(chunks, bodyChunks.Get().(*[bodyChunk]byte))
			last = 0
		}
		k, err := r.Read(chunks[len(chunks)-1][last:])
		last += k
		total += k
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, total)
	for i, c := range chunks {
		n := bodyChunk
		if i == len(chunks)-1 {
			n = last
		}
		b = append(b, c[:n]...)
	}
	return b, nil
}

// lookup finds the model version rt names, with TF Serving's wording for
// what it cannot find.
func (h *handler) lookup(rt route) (inference.Model, error) {
	if rt.hasVersion && rt.version <= 0 {
		// The catalog reads version 0 as "latest"; TF Serving has no
		// version 0 to find.
		return nil, newError(http.StatusNotFound, "Servable not found for request: %s", rt.servableRequest())
	}
	m, err := h.cat.Lookup(rt.model, rt.version, rt.label)
	if err == nil {
		return m, nil
	}
	return nil, h.lookupError(rt, err)
}

// lookupError rewrites a Catalog error in TF Serving's words, keeping its
// status.
func (h *handler) lookupError(rt route, err error) error {
	status := statusOf(err)
	if status != http.StatusNotFound {
		return newError(status, "Servable not available for request: %s: %v", rt.servableRequest(), err)
	}
	if rt.label != "" {
		labels, lerr := h.cat.Labels(rt.model)
		v, known := labels[rt.label]
		if lerr == nil && known {
			return newError(http.StatusNotFound, "Servable not found for request: Specific(%s, %d)", rt.model, v)
		}
		// TF Serving answers 400 here; the inference contract says 404.
		return newError(http.StatusNotFound, "Unrecognized servable version label: %s", rt.label)
	}
	return newError(http.StatusNotFound, "Servable not found for request: %s", rt.servableRequest())
}

// checkSignature accepts the default signature only.
func checkSignature(name string) error {
	if name == "" || name == SignatureName {
		return nil
	}
	return badRequest("Serving signature name: %q not found in signature def", name)
}
