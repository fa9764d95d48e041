package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/pull"
	"github.com/shoalmesh/shoal/serve/registry"
)

// fakeModels records calls and answers with err when set.
type fakeModels struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeModels) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeModels) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeModels) Models(context.Context) ([]controlapi.Model, error) {
	return []controlapi.Model{{Name: "m", Versions: []controlapi.ModelVersion{{Version: 1, State: "AVAILABLE"}}, Labels: map[string]int{}}}, f.record("models")
}
func (f *fakeModels) SetLabel(_ context.Context, name, label string, v int) error {
	return f.record("label %s %s %d", name, label, v)
}
func (f *fakeModels) Quantize(_ context.Context, name string) (controlapi.QuantizeResponse, error) {
	return controlapi.QuantizeResponse{Name: name, Version: 4, FromVersion: 3}, f.record("quantize %s", name)
}
func (f *fakeModels) SetServing(_ context.Context, name string, serving bool) error {
	return f.record("serving %s %v", name, serving)
}
func (f *fakeModels) Remove(_ context.Context, name string, v int) error {
	return f.record("remove %s %d", name, v)
}
func (f *fakeModels) Pull(_ context.Context, name, ref, peer string) (controlapi.PullResponse, error) {
	return controlapi.PullResponse{Name: name, Version: 3, Peer: "p"}, f.record("pull %s %q %q", name, ref, peer)
}
func (f *fakeModels) Predict(_ context.Context, name string, v int, label string, in []inference.Input) (controlapi.PredictResponse, error) {
	return controlapi.PredictResponse{Name: name, Version: 1}, f.record("predict %s %d %q %v", name, v, label, in)
}

func modelsServer(t *testing.T, m ModelService) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	for p, h := range ModelRoutes(m) {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestModelRoutes(t *testing.T) {
	f := &fakeModels{}
	srv := modelsServer(t, f)
	big := `{"inputs":[` + strings.Repeat(`"x",`, MaxPredictInputs) + `"x"]}`
	for _, tc := range []struct {
		method, path, body string
		status             int
		call               string // the service call made ("" none)
	}{
		{"GET", "/api/v1/models", "", 200, "models"},
		{"POST", "/api/v1/models/m/labels", `{"label":"stable","version":2}`, 200, "label m stable 2"},
		{"POST", "/api/v1/models/m/labels", `{"label":"stable"}`, 400, ""},
		{"POST", "/api/v1/models/m/labels", `{"label":"7","version":2}`, 400, ""},
		{"POST", "/api/v1/models/m/labels", `{"label":"latest","version":2}`, 400, ""},
		{"POST", "/api/v1/models/m/labels", `{"label":"s","version":2,"extra":1}`, 400, ""},
		{"POST", "/api/v1/models/m/labels", `{"label":"s","version":"2"}`, 400, ""},
		{"POST", "/api/v1/models/m/labels", `{"label":"s","version":2}{}`, 400, ""},
		{"POST", "/api/v1/models/m/labels", ``, 400, ""},
		{"POST", "/api/v1/models/m/labels", `{"label":"` + strings.Repeat("a", 5000) + `","version":1}`, 413, ""},
		{"POST", "/api/v1/models/bad..%2Fx/labels", `{"label":"s","version":1}`, 400, ""},
		{"DELETE", "/api/v1/models/m", "", 200, "remove m 0"},
		{"DELETE", "/api/v1/models/m/versions/4", "", 200, "remove m 4"},
		{"DELETE", "/api/v1/models/m/versions/0", "", 400, ""},
		{"DELETE", "/api/v1/models/m/versions/04", "", 400, ""},
		{"DELETE", "/api/v1/models/m/versions/x", "", 400, ""},
		{"POST", "/api/v1/models/m/pull", `{}`, 200, `pull m "" ""`},
		{"POST", "/api/v1/models/m/pull", `{"version":3,"peer":"12D3"}`, 200, `pull m "3" "12D3"`},
		{"POST", "/api/v1/models/m/pull", `{"label":"stable"}`, 200, `pull m "stable" ""`},
		{"POST", "/api/v1/models/m/pull", `{"label":"stable","version":1}`, 400, ""},
		{"POST", "/api/v1/models/m/pull", `{"version":-1}`, 400, ""},
		{"POST", "/api/v1/models/m/pull", `{"label":"a b"}`, 400, ""},
		{"POST", "/api/v1/models/m/pull", `{"from":"x"}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{"inputs":["hi",[1,2,[3]]]}`, 200, `predict m 0 "" [hi [1 2 3]]`},
		{"POST", "/api/v1/models/m/predict", `{"inputs":["hi"],"label":"stable"}`, 200, `predict m 0 "stable" [hi]`},
		{"POST", "/api/v1/models/m/predict", `{"inputs":[]}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{"inputs":[{"a":1}]}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{"inputs":[[1,"a"]]}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{"inputs":[[1e300]]}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{"inputs":[true]}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", `{"inputs":["a"],"version":1,"label":"s"}`, 400, ""},
		{"POST", "/api/v1/models/m/predict", big, 400, ""},
		{"POST", "/api/v1/models/m/unload", "", 200, "serving m false"},
		{"POST", "/api/v1/models/m/serve", "", 200, "serving m true"},
		{"POST", "/api/v1/models/m/quantize", "", 200, "quantize m"},
		{"POST", "/api/v1/models/bad..%2Fx/unload", "", 400, ""},
	} {
		before := f.last()
		f.calls = nil
		status, body := send(t, srv, tc.method, tc.path, tc.body)
		if status != tc.status {
			t.Errorf("%s %s %.60s: %d %s, want %d", tc.method, tc.path, tc.body, status, body, tc.status)
		}
		if got := f.last(); got != tc.call {
			t.Errorf("%s %s %.60s: call %q, want %q (before: %q)", tc.method, tc.path, tc.body, got, tc.call, before)
		}
		if status != 200 && !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: error answer %q", tc.method, tc.path, body)
		}
	}
}

func TestModelRoutesErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int // of a pull; predict differs only for the fallback
	}{
		{fmt.Errorf("x: %w", inference.ErrModelNotFound), 404},
		{fmt.Errorf("x: %w", modelstore.ErrNotFound), 404},
		{fmt.Errorf("x: %w", pull.ErrNotFound), 404},
		{fmt.Errorf("x: %w", pull.ErrNoHolder), 404},
		{fmt.Errorf("x: %w", inference.ErrBadInput), 400},
		{fmt.Errorf("x: %w", inference.ErrOverloaded), 429},
		{fmt.Errorf("x: %w", inference.ErrNotReady), 503},
		{ErrNoPuller, 501},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 504},
		{fmt.Errorf("x: %w", pull.ErrMalformed), 502},
		{errors.New("boom"), 502},
	} {
		srv := modelsServer(t, &fakeModels{err: tc.err})
		if status, _ := send(t, srv, "POST", "/api/v1/models/m/pull", `{}`); status != tc.status {
			t.Errorf("pull with %v: %d, want %d", tc.err, status, tc.status)
		}
		want := tc.status
		if want == 502 {
			want = 500
		}
		if status, _ := send(t, srv, "POST", "/api/v1/models/m/predict", `{"inputs":["a"]}`); status != want {
			t.Errorf("predict with %v: %d, want %d", tc.err, status, want)
		}
	}
}

// TestModelService runs the real service over a store and a registry.
func TestModelService(t *testing.T) {
	store, err := modelstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{{Type: "dense", Units: 3}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, hash, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := store.Publish("m", b); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := registry.New(store, registry.Options{RescanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv := modelsServer(t, NewModelService(store, reg, nil, nil))
	c := controlapi.New(srv.URL, "")
	ctx := context.Background()

	if err := c.SetModelLabel(ctx, "m", "stable", 1); err != nil {
		t.Fatal(err)
	}
	ms, err := c.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || len(ms[0].Versions) != 2 || ms[0].Versions[0].Version != 2 || ms[0].Versions[0].State != inference.StateAvailable ||
		ms[0].Versions[0].SHA256 != hash || ms[0].Versions[0].Bytes != int64(len(b)) || ms[0].Labels["stable"] != 1 {
		t.Fatalf("Models = %+v", ms)
	}
	res, err := c.PredictModel(ctx, "m", controlapi.PredictRequest{Inputs: []json.RawMessage{json.RawMessage(`[1,2,3,4]`)}, Label: "stable"})
	if err != nil || res.Version != 1 || len(res.Predictions) != 1 || len(res.Predictions[0].Probabilities) != 3 {
		t.Fatalf("PredictModel = %+v, %v", res, err)
	}
	_, err = c.PredictModel(ctx, "m", controlapi.PredictRequest{Inputs: []json.RawMessage{json.RawMessage(`[1,2]`)}})
	var ae *controlapi.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Errorf("wrong input size: %v", err)
	}
	if _, err := c.PullModel(ctx, "m", controlapi.PullRequest{}); !errors.As(err, &ae) || ae.Status != 501 {
		t.Errorf("pull without a puller: %v", err)
	}
	if err := c.RemoveModel(ctx, "m", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Lookup("m", 1, ""); err == nil {
		t.Error("removed version still served")
	}
	if err := c.RemoveModel(ctx, "m", 1); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("removing again: %v", err)
	}
	if err := c.RemoveModel(ctx, "m", 0); err != nil {
		t.Fatal(err)
	}
	if ms, err := c.Models(ctx); err != nil || len(ms) != 0 {
		t.Errorf("after removing all: %+v, %v", ms, err)
	}
}
