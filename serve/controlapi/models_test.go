package controlapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func TestModelClient(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.EscapedPath()+" "+string(b))
		mu.Unlock()
		switch r.URL.Path {
		case PathModels:
			_, _ = io.WriteString(w, `{"models":null}`)
		case "/api/v1/models/m/pull":
			_, _ = io.WriteString(w, `{"name":"m","version":4,"remote_version":2,"peer":"12D3x","sha256":"ab","bytes":9,"new":1}`)
		case "/api/v1/models/m/predict":
			_, _ = io.WriteString(w, `{"name":"m","version":1,"predictions":[{"label":"a","class":0,"probability":0.9,"probabilities":[0.9,0.1]}]}`)
		case "/api/v1/models/gone":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"no such model"}`)
		default:
			_, _ = io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	c, ctx := New(srv.URL, "tok"), context.Background()

	if ms, err := c.Models(ctx); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("Models = %#v, %v", ms, err)
	}
	if err := c.SetModelLabel(ctx, "m", "stable", 2); err != nil {
		t.Error(err)
	}
	if err := c.RemoveModel(ctx, "m", 0); err != nil {
		t.Error(err)
	}
	if err := c.RemoveModel(ctx, "m", 3); err != nil {
		t.Error(err)
	}
	res, err := c.PullModel(ctx, "m", PullRequest{Label: "stable", Peer: "12D3x"})
	if err != nil || res != (PullResponse{Name: "m", Version: 4, RemoteVersion: 2, Peer: "12D3x", SHA256: "ab", Bytes: 9}) {
		t.Errorf("PullModel = %+v, %v", res, err)
	}
	pr, err := c.PredictModel(ctx, "m", PredictRequest{Inputs: []json.RawMessage{json.RawMessage(`"hi"`)}})
	if err != nil || len(pr.Predictions) != 1 || pr.Predictions[0].Probability != 0.9 {
		t.Errorf("PredictModel = %+v, %v", pr, err)
	}
	var ae *APIError
	if err := c.RemoveModel(ctx, "gone", 0); !errors.As(err, &ae) || ae.Status != 404 || ae.Message != "no such model" {
		t.Errorf("RemoveModel(gone) = %v", err)
	}
	if err := c.RemoveModel(ctx, "m", -1); err == nil {
		t.Error("negative version sent")
	}
	if err := c.SetModelLabel(ctx, "", "s", 1); err == nil {
		t.Error("empty name sent")
	}
	want := []string{
		"GET /api/v1/models ",
		`POST /api/v1/models/m/labels {"label":"stable","version":2}`,
		"DELETE /api/v1/models/m ",
		"DELETE /api/v1/models/m/versions/3 ",
		`POST /api/v1/models/m/pull {"label":"stable","peer":"12D3x"}`,
		`POST /api/v1/models/m/predict {"inputs":["hi"]}`,
		"DELETE /api/v1/models/gone ",
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("requests %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %q, want %q", i, got[i], want[i])
		}
	}
}
