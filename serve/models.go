package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/pull"
	"github.com/shoalmesh/shoal/serve/registry"
)

// ModelService is what the model routes need from a node: its store and
// catalog, and a way to pull from peers. NewModelService builds the node's
// one.
//
// Concurrency contract: every method may be called from many goroutines at
// once. Errors wrap inference's errors, modelstore.ErrNotFound or
// ErrInvalidName, or pull's errors, which the routes map to status codes.
type ModelService interface {
	// Models lists every model with its versions (newest first) and labels.
	Models(ctx context.Context) ([]controlapi.Model, error)
	// SetLabel points label at version; a version that did not load is refused.
	SetLabel(ctx context.Context, name, label string, version int) error
	// Remove deletes version of name, or with version 0 the whole model.
	Remove(ctx context.Context, name string, version int) error
	// Pull fetches name at ref ("" newest, a number, a label) from peer
	// ("" any holder) into the local store.
	Pull(ctx context.Context, name, ref, peer string) (controlapi.PullResponse, error)
	// Predict answers inputs with version (> 0), label, or the newest
	// version that loaded.
	Predict(ctx context.Context, name string, version int, label string, inputs []inference.Input) (controlapi.PredictResponse, error)
	// SetServing unloads name (serving false: no version stays loaded,
	// peers stop hearing it announced; the files stay) or serves it again.
	SetServing(ctx context.Context, name string, serving bool) error
	// Quantize publishes the int8 form of name's newest version as its
	// next version (dynamic activations; shoal quantize --calib is the
	// calibrated form), which the node then serves.
	Quantize(ctx context.Context, name string) (controlapi.QuantizeResponse, error)
}

// Limits of the model routes.
const (
	// MaxPredictInputs bounds the inputs of one predict request.
	MaxPredictInputs = 1024
	// maxModelBody bounds the small bodies (labels, pull).
	maxModelBody = 4 << 10
)

// ErrNoPuller is returned by Pull of a service built without a Puller.
var ErrNoPuller = errors.New("this node cannot pull models")

// ModelRoutes returns the control API's model routes, to mount with
// ControlConfig.Routes (or ControlHandler.Handle):
//
//	GET    /api/v1/models                            controlapi.ModelsResponse
//	POST   /api/v1/models/{name}/labels              body controlapi.SetLabelRequest; controlapi.LabelResponse
//	DELETE /api/v1/models/{name}                     every version and label; controlapi.RemoveResponse
//	DELETE /api/v1/models/{name}/versions/{version}  one version (and its labels)
//	POST   /api/v1/models/{name}/pull                body controlapi.PullRequest; controlapi.PullResponse
//	POST   /api/v1/models/{name}/predict             body controlapi.PredictRequest; controlapi.PredictResponse
//	POST   /api/v1/models/{name}/unload              controlapi.ServingResponse
//	POST   /api/v1/models/{name}/serve               controlapi.ServingResponse
//	POST   /api/v1/models/{name}/quantize            controlapi.QuantizeResponse
func ModelRoutes(m ModelService) map[string]http.Handler {
	mr := modelRoutes{m: m}
	p := controlapi.PathModels
	return map[string]http.Handler{
		"GET " + p:                                   http.HandlerFunc(mr.list),
		"POST " + p + "/{name}/labels":               http.HandlerFunc(mr.label),
		"DELETE " + p + "/{name}":                    http.HandlerFunc(mr.removeModel),
		"DELETE " + p + "/{name}/versions/{version}": http.HandlerFunc(mr.removeVersion),
		"POST " + p + "/{name}/pull":                 http.HandlerFunc(mr.pull),
		"POST " + p + "/{name}/predict":              http.HandlerFunc(mr.predict),
		"POST " + p + "/{name}/unload":               mr.serving(false),
		"POST " + p + "/{name}/serve":                mr.serving(true),
		"POST " + p + "/{name}/quantize":             http.HandlerFunc(mr.quantize),
	}
}

type modelRoutes struct{ m ModelService }

// modelStatus maps an error of a ModelService to a status code; fallback
// is the code of anything else.
func modelStatus(err error, fallback int) int {
	switch {
	case errors.Is(err, modelstore.ErrInvalidName), errors.Is(err, inference.ErrBadInput):
		return http.StatusBadRequest
	case errors.Is(err, inference.ErrModelNotFound), errors.Is(err, inference.ErrVersionNotFound),
		errors.Is(err, modelstore.ErrNotFound), errors.Is(err, pull.ErrNotFound), errors.Is(err, pull.ErrNoHolder):
		return http.StatusNotFound
	case errors.Is(err, inference.ErrOverloaded):
		return http.StatusTooManyRequests
	case errors.Is(err, inference.ErrNotReady):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrNoPuller):
		return http.StatusNotImplemented
	case errors.Is(err, ErrAlreadyInt8):
		return http.StatusConflict
	case errors.Is(err, registry.ErrOverBudget):
		// The node lacks the memory it was given for models.
		return http.StatusInsufficientStorage
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return fallback
}

func (mr modelRoutes) fail(w http.ResponseWriter, r *http.Request, err error, fallback int) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		return // the client is gone
	}
	WriteError(w, modelStatus(err, fallback), err.Error())
}

// pathName reads and checks {name}; on error it has answered.
func pathName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if err := modelstore.ValidName(name); err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return name, true
}

func (mr modelRoutes) list(w http.ResponseWriter, r *http.Request) {
	ms, err := mr.m.Models(r.Context())
	if err != nil {
		mr.fail(w, r, err, http.StatusInternalServerError)
		return
	}
	if ms == nil {
		ms = []controlapi.Model{}
	}
	WriteJSON(w, http.StatusOK, controlapi.ModelsResponse{Models: ms})
}

func (mr modelRoutes) quantize(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r)
	if !ok {
		return
	}
	res, err := mr.m.Quantize(r.Context(), name)
	if err != nil {
		mr.fail(w, r, err, http.StatusInternalServerError)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// serving answers POST …/unload (serve false) and …/serve.
func (mr modelRoutes) serving(serve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, ok := pathName(w, r)
		if !ok {
			return
		}
		if err := mr.m.SetServing(r.Context(), name, serve); err != nil {
			mr.fail(w, r, err, http.StatusInternalServerError)
			return
		}
		WriteJSON(w, http.StatusOK, controlapi.ServingResponse{Name: name, Serving: serve})
	}
}

func (mr modelRoutes) label(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r)
	if !ok {
		return
	}
	var req controlapi.SetLabelRequest
	if err := DecodeRequest(w, r, maxModelBody, &req); err != nil {
		return
	}
	if err := modelstore.ValidLabel(req.Label); err != nil {
		WriteError(w, http.StatusBadRequest, "label: "+err.Error())
		return
	}
	if req.Version < 1 {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("version %d: want a number from 1", req.Version))
		return
	}
	if err := mr.m.SetLabel(r.Context(), name, req.Label, req.Version); err != nil {
		mr.fail(w, r, err, http.StatusInternalServerError)
		return
	}
	WriteJSON(w, http.StatusOK, controlapi.LabelResponse{Name: name, Label: req.Label, Version: req.Version})
}

func (mr modelRoutes) removeModel(w http.ResponseWriter, r *http.Request) {
	if name, ok := pathName(w, r); ok {
		mr.remove(w, r, name, 0)
	}
}

func (mr modelRoutes) removeVersion(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r)
	if !ok {
		return
	}
	s := r.PathValue("version")
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || strconv.Itoa(v) != s {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("version %q: want a number from 1", s))
		return
	}
	mr.remove(w, r, name, v)
}

func (mr modelRoutes) remove(w http.ResponseWriter, r *http.Request, name string, v int) {
	if err := mr.m.Remove(r.Context(), name, v); err != nil {
		mr.fail(w, r, err, http.StatusInternalServerError)
		return
	}
	WriteJSON(w, http.StatusOK, controlapi.RemoveResponse{Name: name, Version: v})
}

func (mr modelRoutes) pull(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r)
	if !ok {
		return
	}
	var req controlapi.PullRequest
	if err := DecodeRequest(w, r, maxModelBody, &req); err != nil {
		return
	}
	ref := ""
	switch {
	case req.Version != 0 && req.Label != "":
		WriteError(w, http.StatusBadRequest, "give a version or a label, not both")
		return
	case req.Version < 0:
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("version %d: want a number from 1", req.Version))
		return
	case req.Version > 0:
		ref = strconv.Itoa(req.Version)
	case req.Label != "":
		if err := modelstore.ValidLabel(req.Label); err != nil {
			WriteError(w, http.StatusBadRequest, "label: "+err.Error())
			return
		}
		ref = req.Label
	}
	res, err := mr.m.Pull(r.Context(), name, ref, req.Peer)
	if err != nil {
		// What is not classified went wrong at the other end or on the way.
		mr.fail(w, r, err, http.StatusBadGateway)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

func (mr modelRoutes) predict(w http.ResponseWriter, r *http.Request) {
	name, ok := pathName(w, r)
	if !ok {
		return
	}
	var req controlapi.PredictRequest
	if err := DecodeRequest(w, r, MaxRequestBytes, &req); err != nil {
		return
	}
	inputs, err := decodeInputs(req.Inputs)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch {
	case req.Version < 0:
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("version %d: want a number from 1", req.Version))
		return
	case req.Version > 0 && req.Label != "":
		WriteError(w, http.StatusBadRequest, "give a version or a label, not both")
		return
	}
	res, err := mr.m.Predict(r.Context(), name, req.Version, req.Label, inputs)
	if err != nil {
		mr.fail(w, r, err, http.StatusInternalServerError)
		return
	}
	WriteJSON(w, http.StatusOK, res)
}

// decodeInputs turns the JSON inputs of a predict request into model
// inputs: a string stays a string, an array of numbers (nested arrays are
// flattened) becomes a []float32 of finite values.
func decodeInputs(raw []json.RawMessage) ([]inference.Input, error) {
	if len(raw) == 0 {
		return nil, errors.New(`"inputs" must be a non-empty array`)
	}
	if len(raw) > MaxPredictInputs {
		return nil, fmt.Errorf("%d inputs, at most %d in one request", len(raw), MaxPredictInputs)
	}
	out := make([]inference.Input, len(raw))
	for i, b := range raw {
		b = bytes.TrimSpace(b)
		switch {
		case len(b) > 0 && b[0] == '"':
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return nil, fmt.Errorf("input %d: %v", i+1, err)
			}
			out[i] = s
		case len(b) > 0 && b[0] == '[':
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, fmt.Errorf("input %d: %v", i+1, err)
			}
			var xs []float32
			if err := flatten(v, &xs); err != nil {
				return nil, fmt.Errorf("input %d: %v", i+1, err)
			}
			out[i] = xs
		default:
			return nil, fmt.Errorf("input %d: want a string or an array of numbers, got %.20s", i+1, b)
		}
	}
	return out, nil
}

func flatten(v any, dst *[]float32) error {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if err := flatten(e, dst); err != nil {
				return err
			}
		}
		return nil
	case float64:
		if math.IsNaN(t) || math.Abs(t) > math.MaxFloat32 {
			return fmt.Errorf("%v is outside the finite range of float32", t)
		}
		*dst = append(*dst, float32(t))
		return nil
	}
	return fmt.Errorf("want numbers, got %T", v)
}

// Puller pulls a model from peers into the local store; *pull.Puller is one.
type Puller interface {
	Pull(ctx context.Context, name, ref, peer string) (pull.Result, error)
}

// NewModelService returns the node's ModelService over its store and the
// registry serving it. Predictions go to query, which may reach further
// than the node's own models (a forward.Catalog also asks the peers that
// serve a model); nil means the registry. puller may be nil (Pull then
// fails with ErrNoPuller).
func NewModelService(store *modelstore.Store, catalog *registry.Registry, query inference.Catalog, puller Puller) ModelService {
	if query == nil {
		query = catalog
	}
	return &modelService{store: store, cat: catalog, query: query, puller: puller}
}

type modelService struct {
	store  *modelstore.Store
	cat    *registry.Registry
	query  inference.Catalog
	puller Puller
}

func (s *modelService) Models(context.Context) ([]controlapi.Model, error) {
	names, err := s.store.List()
	if err != nil {
		return nil, err
	}
	for _, n := range s.cat.Names() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]controlapi.Model, 0, len(names))
	for _, name := range names {
		m := controlapi.Model{Name: name, Versions: []controlapi.ModelVersion{}, Labels: map[string]int{}}
		if l, err := s.store.Labels(name); err == nil {
			m.Labels = l
		}
		states := map[int]inference.VersionStatus{}
		if vs, err := s.cat.Versions(name); err == nil {
			for _, v := range vs {
				states[v.Version] = v
			}
		}
		stored, _ := s.store.Versions(name) // ErrNotFound: gone meanwhile
		for _, v := range slices.Backward(stored) {
			mv := controlapi.ModelVersion{Version: v, State: inference.StateStart}
			if st, ok := states[v]; ok {
				mv.State, mv.Error = st.State, st.Error
			}
			if p, err := s.store.Path(name, v); err == nil {
				if fi, err := os.Stat(p); err == nil {
					mv.Bytes = fi.Size()
				}
			} else {
				mv.Error = err.Error()
			}
			if mv.State == inference.StateAvailable {
				if lm, err := s.cat.Lookup(name, v, ""); err == nil {
					mv.SHA256 = lm.Signature().Hash
				}
			}
			m.Versions = append(m.Versions, mv)
		}
		if len(m.Versions) > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// ErrAlreadyInt8 says the newest version of a model is int8 already.
var ErrAlreadyInt8 = errors.New("the newest version is int8 already")

func (s *modelService) Quantize(_ context.Context, name string) (controlapi.QuantizeResponse, error) {
	vs, err := s.store.Versions(name)
	if err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	if len(vs) == 0 {
		return controlapi.QuantizeResponse{}, fmt.Errorf("%w: %q has no version", modelstore.ErrNotFound, name)
	}
	from := vs[len(vs)-1]
	path, err := s.store.Path(name, from)
	if err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	a, err := artifact.Load(path) // hash-checked
	if err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	if a.Model.Quantized() {
		return controlapi.QuantizeResponse{}, fmt.Errorf("%s version %d: %w", name, from, ErrAlreadyInt8)
	}
	q, err := a.Quantize(nn.QuantizeOptions{})
	if err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	b, sum, err := q.Encode()
	if err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	v, err := s.store.Publish(name, b)
	if err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	_ = s.cat.Rescan() // serve it before answering
	return controlapi.QuantizeResponse{Name: name, Version: v, FromVersion: from, Bytes: int64(len(b)), SHA256: sum}, nil
}

func (s *modelService) SetServing(_ context.Context, name string, serving bool) error {
	if serving {
		return s.cat.Serve(name)
	}
	return s.cat.Unload(name)
}

func (s *modelService) SetLabel(_ context.Context, name, label string, version int) error {
	return s.cat.SetLabel(name, label, version)
}

func (s *modelService) Remove(_ context.Context, name string, version int) error {
	if err := s.store.Remove(name, version); err != nil {
		return err
	}
	// The store's event wakes the registry too; a pass now makes the
	// removal visible to Lookup before the answer goes out.
	_ = s.cat.Rescan()
	return nil
}

func (s *modelService) Pull(ctx context.Context, name, ref, peer string) (controlapi.PullResponse, error) {
	if s.puller == nil {
		return controlapi.PullResponse{}, ErrNoPuller
	}
	res, err := s.puller.Pull(ctx, name, ref, peer)
	if err != nil {
		return controlapi.PullResponse{}, err
	}
	_ = s.cat.Rescan()
	return controlapi.PullResponse{
		Name: res.Name, Version: res.Version, RemoteVersion: res.RemoteVersion,
		Peer: res.Peer.String(), SHA256: res.SHA256, Bytes: res.Bytes,
		Int8: res.Int8, QuantizedHere: res.QuantizedHere,
	}, nil
}

func (s *modelService) Predict(ctx context.Context, name string, version int, label string, inputs []inference.Input) (controlapi.PredictResponse, error) {
	m, err := s.query.Lookup(name, version, label)
	if err != nil {
		return controlapi.PredictResponse{}, err
	}
	for i, in := range inputs {
		if err := m.Check(in); err != nil {
			return controlapi.PredictResponse{}, fmt.Errorf("input %d: %w", i+1, err)
		}
	}
	ctx, route := inference.WithRoute(ctx)
	preds, err := m.Predict(ctx, inputs)
	if err != nil {
		return controlapi.PredictResponse{}, err
	}
	out := controlapi.PredictResponse{Name: name, Version: m.Version(), ServedBy: route.Peer(),
		Predictions: make([]controlapi.Prediction, len(preds))}
	for i, p := range preds {
		out.Predictions[i] = controlapi.Prediction{Label: p.Label, Class: p.Class, Probability: p.Probability, Probabilities: p.Probabilities}
	}
	return out, nil
}
