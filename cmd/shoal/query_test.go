package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve/inference"
)

// fakeModelServer answers :predict like the model server, naming peer in
// the served-by header when it is not "".
func fakeModelServer(t *testing.T, peer string, got *[]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Instances []json.RawMessage `json:"instances"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
			return
		}
		*got = append(*got, r.URL.Path)
		if strings.Contains(r.URL.Path, "missing") {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"Servable not found for request: Latest(missing)"}`))
			return
		}
		if peer != "" {
			w.Header().Set(inference.ServedByHeader, peer)
		}
		var preds []map[string]any
		for range req.Instances {
			preds = append(preds, map[string]any{"class": 1, "label": "b", "probability": 0.75, "probabilities": []float64{0.25, 0.75}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"predictions": preds})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestQueryAgainstModelServer(t *testing.T) {
	ctx := context.Background()
	var paths []string
	srv := fakeModelServer(t, "12D3KooWPeerA", &paths)
	addr := strings.TrimPrefix(srv.URL, "http://")

	out, _, err := runJobCLI(ctx, "query", "days", "good day", "bad day", "--http", addr, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var q queryOutput
	if err := json.Unmarshal([]byte(out), &q); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := queryOutput{Model: "days", ServedBy: "12D3KooWPeerA", Predictions: []queryAnswer{
		{Input: "good day", Label: "b", Class: 1, Probability: 0.75, Probabilities: []float64{0.25, 0.75}},
		{Input: "bad day", Label: "b", Class: 1, Probability: 0.75, Probabilities: []float64{0.25, 0.75}},
	}}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("got %+v, want %+v", q, want)
	}

	out, _, err = runJobCLI(ctx, "query", "digits", "[[1,2],[3,4]]", "--http", addr, "--version", "2")
	if err != nil {
		t.Fatal(err)
	}
	if out != "b\t0.7500\nb\t0.7500\nserved by 12D3KooWPeerA\n" {
		t.Fatalf("text output %q", out)
	}
	if _, _, err := runJobCLI(ctx, "query", "digits", "[1]", "--http", addr, "--label", "stable"); err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{"/v1/models/days:predict", "/v1/models/digits/versions/2:predict", "/v1/models/digits/labels/stable:predict"}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Fatalf("paths %v, want %v", paths, wantPaths)
	}

	// A local answer has no header: "local".
	local := fakeModelServer(t, "", &paths)
	out, _, err = runJobCLI(ctx, "query", "days", "x", "--http", strings.TrimPrefix(local.URL, "http://"), "--json")
	if err != nil || !strings.Contains(out, `"served_by":"local"`) {
		t.Fatalf("local: %s, %v", out, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"missing", "x"}, "Servable not found"},
		{[]string{"days", "x", "[1,2]"}, "mix"},
		{[]string{"days", "x", "--version", "1", "--label", "l"}, "not both"},
		{[]string{"days", "[1,"}, "input 1"},
	} {
		_, _, err := runJobCLI(ctx, append(append([]string{"query"}, tc.args...), "--http", addr)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("query %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := runJobCLI(ctx, "query", "days", "x", "--http", "127.0.0.1:1", "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "shoal up") {
		t.Errorf("no server: %v", err)
	}
}

// tinyModelFile writes an image model taking 4 numbers into 3 classes.
func tinyModelFile(t *testing.T, dir string) string {
	t.Helper()
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{
		{Type: "dense", Units: 8, Activation: "relu"},
		{Type: "dense", Units: 3},
	}}, 7)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tiny.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var reServe = regexp.MustCompile(`serving models on http://(\S+) `)

// TestQueryThroughMesh runs real `shoal up` processes: a model added on A
// only is answered through B by A; with C holding it too, killing A's
// process makes the next query through B come from C.
func TestQueryThroughMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes; skipped with -short")
	}
	bin := buildShoal(t)
	root := t.TempDir()
	model := tinyModelFile(t, root)
	a := startMeshProc(t, bin, "a", filepath.Join(root, "a"))
	key := filepath.Join(root, "a", "swarm.key")
	b := startMeshProc(t, bin, "b", filepath.Join(root, "b"), "--key", key, "--bootstrap", a.addr)
	c := startMeshProc(t, bin, "c", filepath.Join(root, "c"), "--key", key, "--bootstrap", a.addr)
	httpOf := func(p *meshProc) string {
		return p.log.waitMatch(t, p.name+" model server", reServe, 30*time.Second)[1]
	}
	aHTTP, bHTTP, cHTTP := httpOf(a), httpOf(b), httpOf(c)

	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(os.Environ(), "SHOAL_DATA_DIR=")
		err := cmd.Run()
		if err != nil {
			return stdout.String(), &exitError{err, stderr.String()}
		}
		return stdout.String(), nil
	}
	query := func(addr string) (queryOutput, error) {
		out, err := run("query", "tiny", "[0.1,-0.2,0.3,0.9]", "[1,1,0,-1]", "--json", "--http", addr, "--timeout", "10s")
		var q queryOutput
		if err == nil {
			err = json.Unmarshal([]byte(out), &q)
		}
		return q, err
	}
	// until retries query through addr until it answers, served by want.
	until := func(what, addr, want string) queryOutput {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			q, err := query(addr)
			if err == nil && q.ServedBy == want {
				return q
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last answer %+v, %v", what, q, err)
			}
			<-tick.C
		}
	}

	if out, err := run("models", "add", "tiny", model, "--data-dir", a.dir); err != nil {
		t.Fatalf("models add on a: %v (%s)", err, out)
	}
	local := until("a answers itself", aHTTP, "local")
	via := until("b forwards to a", bHTTP, a.id)
	if !reflect.DeepEqual(via.Predictions, local.Predictions) {
		t.Fatalf("through b %+v, at a %+v", via.Predictions, local.Predictions)
	}

	if out, err := run("models", "add", "tiny", model, "--data-dir", c.dir); err != nil {
		t.Fatalf("models add on c: %v (%s)", err, out)
	}
	until("c answers itself", cHTTP, "local")
	// From now on C's heartbeats announce tiny: wait for b to hear one.
	loaded := time.Now()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		out, err := run("peers", "--json", "--api", b.api, "--data-dir", b.dir)
		var peers []peerSeen
		if err == nil && json.Unmarshal([]byte(out), &peers) == nil &&
			slices.ContainsFunc(peers, func(p peerSeen) bool { return p.ID == c.id && p.LastSeen.After(loaded) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b heard no heartbeat of c after it loaded tiny: %s, %v", out, err)
		}
		<-tick.C
	}

	_ = a.cmd.Process.Kill()
	<-a.done
	start := time.Now()
	q, err := query(bHTTP)
	if err != nil {
		t.Fatalf("query after a died: %v", err)
	}
	if q.ServedBy != c.id {
		t.Fatalf("after a died, served by %s, want c (%s)", q.ServedBy, c.id)
	}
	if !reflect.DeepEqual(q.Predictions, local.Predictions) {
		t.Fatalf("c answered %+v, a had %+v", q.Predictions, local.Predictions)
	}
	t.Logf("first query after a was killed: %v (process start included)", time.Since(start))
	b.stop(t)
	c.stop(t)
}

type exitError struct {
	err    error
	stderr string
}

func (e *exitError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// peerSeen is what the test reads of `shoal peers --json`.
type peerSeen struct {
	ID       string    `json:"id"`
	LastSeen time.Time `json:"last_seen"`
}
