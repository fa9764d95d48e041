package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/pull"
)

// TestModelsAddListLabel drives `shoal models` as a user would: train a
// small model, add it twice, copy a truncated version in by hand, list,
// label a good version, and be refused a label on the broken one.
func TestModelsAddListLabel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "days.safetensors")
	if _, stderr, err := runJobCLI(ctx, "train", "--model", "seed-text", "--data", datatest.DaysTSV(t, 80), "--epochs", "1", "--out", model); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	data := filepath.Join(dir, "node")
	for i, want := range []string{"days version 1", "days version 2"} {
		out, _, err := runJobCLI(ctx, "models", "add", "days", model, "--data-dir", data)
		if err != nil || strings.TrimSpace(out) != want {
			t.Fatalf("add #%d: %q, %v; want %q", i+1, out, err, want)
		}
	}
	if _, _, err := runJobCLI(ctx, "models", "add", "days", filepath.Join(dir, "nope"), "--data-dir", data); err == nil {
		t.Fatal("adding a missing file succeeded")
	}
	if _, _, err := runJobCLI(ctx, "models", "add", "bad/name", model, "--data-dir", data); err == nil {
		t.Fatal("adding under an invalid name succeeded")
	}
	// A version copied in by hand, cut short.
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	v3 := filepath.Join(data, "models", "days", "3")
	if err := os.MkdirAll(v3, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v3, "model.safetensors"), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	if out, _, err := runJobCLI(ctx, "models", "label", "days", "2", "stable", "--data-dir", data); err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("label: %q, %v", out, err)
	}
	if _, _, err := runJobCLI(ctx, "models", "label", "days", "3", "canary", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "does not load") {
		t.Fatalf("label on a truncated version: %v, want a refusal", err)
	}
	if _, _, err := runJobCLI(ctx, "models", "label", "days", "9", "canary", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "no version 9") {
		t.Fatalf("label on a missing version: %v", err)
	}

	out, _, err := runJobCLI(ctx, "models", "--json", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	var list []modelListing
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("models --json: %s (%v)", out, err)
	}
	m := list[0]
	if m.Name != "days" || len(m.Versions) != 3 || m.Labels["stable"] != 2 || len(m.Labels) != 1 {
		t.Fatalf("listing %+v", m)
	}
	if m.Versions[0].Version != 3 || m.Versions[0].Error == "" || m.Versions[0].SHA256 != "" {
		t.Errorf("the truncated version is not reported broken: %+v", m.Versions[0])
	}
	if m.Versions[1].SHA256 == "" || m.Versions[1].SHA256 != m.Versions[2].SHA256 || m.Versions[1].Bytes != int64(len(b)) {
		t.Errorf("good versions: %+v %+v", m.Versions[1], m.Versions[2])
	}
	table, _, err := runJobCLI(ctx, "models", "--data-dir", data)
	if err != nil || !strings.Contains(table, "BROKEN") || !strings.Contains(table, "stable") {
		t.Errorf("table:\n%s (%v)", table, err)
	}
}

// TestModelsRm removes a labelled version, then the whole model.
func TestModelsRm(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "node")
	s, err := modelstore.Open(filepath.Join(data, "models"))
	if err != nil {
		t.Fatal(err)
	}
	b := smallModelFile(t)
	for range 2 {
		if _, err := s.Publish("m", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetLabel("m", "stable", 2); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"m@stable", "m@latest", "m@0", "m@9", "nope", "../x", "m@x/y"} {
		if _, _, err := runJobCLI(ctx, "models", "rm", bad, "--data-dir", data); err == nil {
			t.Errorf("rm %s succeeded", bad)
		}
	}
	if out, _, err := runJobCLI(ctx, "models", "rm", "m@2", "--data-dir", data); err != nil || strings.TrimSpace(out) != "removed m version 2" {
		t.Fatalf("rm m@2: %q, %v", out, err)
	}
	if vs, _ := s.Versions("m"); len(vs) != 1 || vs[0] != 1 {
		t.Errorf("versions %v", vs)
	}
	if l, _ := s.Labels("m"); len(l) != 0 {
		t.Errorf("labels %v", l)
	}
	if out, _, err := runJobCLI(ctx, "models", "rm", "m", "--data-dir", data); err != nil || !strings.Contains(out, "removed m") {
		t.Fatalf("rm m: %q, %v", out, err)
	}
	if names, _ := s.List(); len(names) != 0 {
		t.Errorf("models left: %v", names)
	}
}

// TestModelsPull drives `shoal models pull` against a control API with a
// fake model service.
func TestModelsPull(t *testing.T) {
	ctx := context.Background()
	fake := &fakePull{}
	api, data := fakeModelAPI(t, fake)

	out, _, err := runJobCLI(ctx, "models", "pull", "digits@stable", "--peer", "12D3KooWpeer", "--api", api, "--data-dir", data)
	if err != nil || !strings.Contains(out, "digits version 5") || !strings.Contains(out, "from peer 12D3KooWpeer") {
		t.Fatalf("pull: %q, %v", out, err)
	}
	if fake.got != `digits "stable" "12D3KooWpeer"` {
		t.Errorf("service saw %s", fake.got)
	}
	out, _, err = runJobCLI(ctx, "models", "pull", "digits@3", "--json", "--api", api, "--data-dir", data)
	var res controlapi.PullResponse
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Version != 5 || fake.got != `digits "3" ""` {
		t.Fatalf("pull --json: %q, %v (service saw %s)", out, err, fake.got)
	}
	fake.err = fmt.Errorf("x: %w", pull.ErrNoHolder)
	if _, _, err := runJobCLI(ctx, "models", "pull", "digits", "--api", api, "--data-dir", data); err == nil || !strings.Contains(err.Error(), "no peer known") {
		t.Errorf("pull without holders: %v", err)
	}
	if _, _, err := runJobCLI(ctx, "models", "pull", "digits@0", "--api", api, "--data-dir", data); err == nil {
		t.Error("pull digits@0 succeeded")
	}
}

func smallModelFile(t *testing.T) []byte {
	t.Helper()
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{{Type: "dense", Units: 3}}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fakeSelf struct{}

func (fakeSelf) Self() controlapi.Peer                        { return controlapi.Peer{} }
func (fakeSelf) Peers() []controlapi.Peer                     { return nil }
func (fakeSelf) Subscribe() (<-chan controlapi.Event, func()) { return nil, func() {} }

type fakePull struct {
	serve.ModelService // only Pull is called
	got                string
	err                error
}

func (f *fakePull) Pull(_ context.Context, name, ref, peer string) (controlapi.PullResponse, error) {
	f.got = fmt.Sprintf("%s %q %q", name, ref, peer)
	if peer == "" {
		peer = "12D3KooWany"
	}
	return controlapi.PullResponse{Name: name, Version: 5, RemoteVersion: 2, Peer: peer, SHA256: "ab", Bytes: 10}, f.err
}

func (f *fakePull) Quantize(_ context.Context, name string) (controlapi.QuantizeResponse, error) {
	f.got = "quantize " + name
	return controlapi.QuantizeResponse{Name: name, Version: 2, FromVersion: 1}, f.err
}

func (f *fakePull) SetServing(_ context.Context, name string, serving bool) error {
	f.got = fmt.Sprintf("serving %s %v", name, serving)
	return f.err
}

// TestModelsUnloadServe drives `shoal models unload` and `serve` against a
// control API with a fake model service.
func TestModelsUnloadServe(t *testing.T) {
	ctx := context.Background()
	fake := &fakePull{}
	api, data := fakeModelAPI(t, fake)
	if out, _, err := runJobCLI(ctx, "models", "unload", "digits", "--api", api, "--data-dir", data); err != nil || !strings.Contains(out, "unloaded digits") || fake.got != "serving digits false" {
		t.Fatalf("unload: %q, %v (service saw %s)", out, err, fake.got)
	}
	if out, _, err := runJobCLI(ctx, "models", "serve", "digits", "--api", api, "--data-dir", data); err != nil || !strings.Contains(out, "served digits") || fake.got != "serving digits true" {
		t.Fatalf("serve: %q, %v (service saw %s)", out, err, fake.got)
	}
	fake.err = fmt.Errorf("x: %w", inference.ErrModelNotFound)
	if _, _, err := runJobCLI(ctx, "models", "unload", "nope", "--api", api, "--data-dir", data); err == nil {
		t.Error("unloading an unknown model succeeded")
	}
}

// fakeModelAPI serves the control API's model routes over svc on a test
// listener, with a token file in a fresh data dir, as `shoal up` would;
// it returns the API's address and the data dir.
func fakeModelAPI(t *testing.T, svc serve.ModelService) (api, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	const token = "0123456789abcdef0123456789abcdef"
	if err := os.WriteFile(controlapi.TokenPath(dataDir), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := serve.NewControlHandler(fakeSelf{}, token)
	for p, r := range serve.ModelRoutes(svc) {
		h.Handle(p, r)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), dataDir
}
