package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/testnet"
)

// runJobCLI runs the shoal command line in-process.
func runJobCLI(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// startJobNode runs one in-process node, assembled as `shoal up` assembles
// it (serve/node, through testnet), and returns its control API address and
// the data dir holding the token.
func startJobNode(t *testing.T, ctx context.Context) (addr, dataDir string) {
	t.Helper()
	tn, err := testnet.Start(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.Close() })
	return tn.APIAddr(0), tn.DataDir(0)
}

func TestJobSubmitFlagErrors(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(notJSON, []byte("layers: [dense]"), 0o644); err != nil {
		t.Fatal(err)
	}
	array := filepath.Join(dir, "array.json")
	if err := os.WriteFile(array, []byte("[1]"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on: bind one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	if err := os.WriteFile(controlapi.TokenPath(dir), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"job", "submit", "--data", "x.tsv"}, `"model" not set`},
		{[]string{"job", "submit", "--model", "mlp"}, `"data" not set`},
		{[]string{"job", "submit", "--model", "nosuch", "--data", "x", "--data-dir", dir}, "neither a preset"},
		{[]string{"job", "submit", "--model", notJSON, "--data", "x", "--data-dir", dir}, "not a JSON model spec"},
		{[]string{"job", "submit", "--model", array, "--data", "x", "--data-dir", dir}, "JSON object"},
		{[]string{"job", "submit", "--model", "mlp", "--data", "x", "--data-dir", t.TempDir()}, "token"},
		{[]string{"job", "submit", "--model", "mlp", "--data", "x", "--data-dir", dir, "--api", deadAddr}, "no shoal node answering"},
		{[]string{"jobs", "--data-dir", dir, "--api", deadAddr}, "no shoal node answering"},
	}
	for _, c := range cases {
		_, _, err := runJobCLI(ctx, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shoal %s: error %v, want it to mention %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestReadModelSpecFile(t *testing.T) {
	spec, err := nn.Preset("seed-text", nn.PresetOptions{Classes: 2, Vocab: 100, MaxLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := readModelSpecFile(path)
	if err != nil || bytes.ContainsAny(raw, "\n ") || !json.Valid(raw) {
		t.Fatalf("readModelSpecFile = %s, %v; want compact JSON", raw, err)
	}
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), maxModelSpecFile)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readModelSpecFile(big); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("oversized spec file: %v", err)
	}
}

// TestJobSubmitWaitAndList submits a tiny text job to an in-process node
// through the CLI, waits for it, and lists it.
func TestJobSubmitWaitAndList(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a libp2p node and trains a model")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr, dataDir := startJobNode(t, ctx)
	data := datatest.DaysTSV(t, 200)
	// A relative --data works: the CLI makes it absolute for the node.
	t.Chdir(filepath.Dir(data))

	stdout, stderr, err := runJobCLI(ctx, "job", "submit", "--model", "seed-text", "--data", "days.tsv", "--holdout", "0.2",
		"--epochs", "2", "--batch", "16", "--lr", "0.01", "--local-steps", "4", "--seed", "3", "--name", "days",
		"--wait", "--json", "--api", addr, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("job submit: %v\nstderr:\n%s", err, stderr)
	}
	var j controlapi.Job
	if err := json.Unmarshal([]byte(jobLastLine(stdout)), &j); err != nil {
		t.Fatalf("last stdout line is not a job: %v\n%s", err, stdout)
	}
	if j.State != controlapi.JobDone || len(j.ModelHash) != 64 || j.Result == nil || j.Spec.Data != data || j.Name != "days" {
		t.Fatalf("final job %+v", j)
	}
	if !strings.Contains(stderr, "submitted job "+j.ID) || !strings.Contains(stderr, "done: epoch") {
		t.Errorf("stderr lacks the submission or progress:\n%s", stderr)
	}

	stdout, _, err = runJobCLI(ctx, "jobs", "--json", "--api", addr, "--data-dir", dataDir)
	var list []controlapi.Job
	if err != nil || json.Unmarshal([]byte(stdout), &list) != nil || len(list) != 1 || list[0].ModelHash != j.ModelHash {
		t.Fatalf("jobs --json: %v\n%s", err, stdout)
	}
	stdout, _, err = runJobCLI(ctx, "job", "list", "--api", addr, "--data-dir", dataDir)
	if err != nil || !strings.HasPrefix(stdout, "ID ") || !strings.Contains(stdout, j.ID) || !strings.Contains(stdout, j.ModelHash[:12]) {
		t.Errorf("job list: %v\n%s", err, stdout)
	}

	// Without --wait, --json prints the filled spec; a bad one is refused
	// by the node with its reason.
	stdout, _, err = runJobCLI(ctx, "job", "submit", "--model", "seed-text", "--data", data, "--compress", "int8",
		"--replication", "1", "--seed", "4", "--json", "--api", addr, "--data-dir", dataDir)
	var spec controlapi.JobSpec
	if err != nil || json.Unmarshal([]byte(jobLastLine(stdout)), &spec) != nil || len(spec.ID) != 16 || spec.Compress != "int8" || spec.Replication != 1 {
		t.Errorf("submit --json: %v, %+v\n%s", err, spec, stdout)
	}
	_, _, err = runJobCLI(ctx, "job", "submit", "--model", "seed-text", "--data", data, "--compress", "zip",
		"--api", addr, "--data-dir", dataDir)
	if err == nil || !strings.Contains(err.Error(), "compress") || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("bad --compress: %v", err)
	}
}

func jobLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
