package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runEngineCmd runs the command line in-process and returns stdout, stderr and
// the error main would print.
func runEngineCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestCLIChineseExample is the original brief's example through the command
// line: train seed-text on four sentences for 10 epochs, save, inspect,
// evaluate and predict. The learning rate is 1e-2 so that the labels can be
// checked with a margin (see TestChineseExample in engine/artifact).
func TestCLIChineseExample(t *testing.T) {
	dir := t.TempDir()
	tsv := filepath.Join(dir, "days.tsv")
	if err := os.WriteFile(tsv, []byte("good\t今天天气很好\ngood\t今天心情很好\nbad\t今天天气很差\nbad\t今天心情很差\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "days.safetensors")
	stdout, stderr, err := runEngineCmd(t, "", "train", "--model", "seed-text", "--data", tsv, "--holdout", "0",
		"--epochs", "10", "--lr", "0.01", "--seed", "1", "--out", model, "--json")
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	var tr map[string]any
	if err := json.Unmarshal([]byte(lastLine(stdout)), &tr); err != nil {
		t.Fatalf("last stdout line is not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"samples_per_sec", "train_seconds", "test_accuracy", "test_loss", "params", "model_path",
		"epochs", "batch", "seed", "threads", "model", "data"} {
		if _, ok := tr[k]; !ok {
			t.Errorf("train --json lacks %q: %s", k, stdout)
		}
	}
	if tr["model_path"] != model || tr["epochs"] != 10.0 || tr["batch"] != 32.0 || tr["samples"] != 40.0 {
		t.Errorf("train --json: %v", tr)
	}

	stdout, _, err = runEngineCmd(t, "", "predict", model, "今天天气很好", "今天心情很差", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var pr predictOutput
	if err := json.Unmarshal([]byte(stdout), &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Predictions) != 2 {
		t.Fatalf("predictions: %s", stdout)
	}
	for _, p := range pr.Predictions {
		t.Logf("%s -> %s %.4f %v", p.Input, p.Label, p.Probability, p.Probabilities)
		if p.Probability < 0.5 || p.Probability > 1 || len(p.Probabilities) != 2 {
			t.Errorf("prediction %+v", p)
		}
	}
	if pr.Predictions[0].Label != "good" || pr.Predictions[1].Label != "bad" {
		t.Errorf("labels %s, %s; want good, bad", pr.Predictions[0].Label, pr.Predictions[1].Label)
	}
	if pr.Predictions[0].Truncated {
		t.Errorf("a short text is reported truncated")
	}
	// A text longer than the model reads is answered, and said to be cut.
	long := strings.Repeat("今天天气很好", 40)
	stdout, _, err = runEngineCmd(t, "", "predict", model, long, "--json")
	if err != nil || json.Unmarshal([]byte(stdout), &pr) != nil || len(pr.Predictions) != 1 || !pr.Predictions[0].Truncated {
		t.Fatalf("predict of a long text: %v\n%s", err, stdout)
	}
	if _, stderr, _ := runEngineCmd(t, "", "predict", model, long); !strings.Contains(stderr, "1 of 1 texts were longer") {
		t.Errorf("plain predict of a long text says %q", stderr)
	}
	// Plain output, inputs from stdin.
	stdout, _, err = runEngineCmd(t, "今天天气很好\n\n今天心情很差\n", "predict", model)
	if err != nil || strings.Count(stdout, "\n") != 2 || !strings.HasPrefix(stdout, "good\t") {
		t.Fatalf("predict from stdin: %v\n%s", err, stdout)
	}

	stdout, _, err = runEngineCmd(t, "", "inspect", model, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var in inspectOutput
	if err := json.Unmarshal([]byte(stdout), &in); err != nil {
		t.Fatal(err)
	}
	if in.Params != int(tr["params"].(float64)) || in.SHA256 != tr["sha256"] || in.Kind != "text" ||
		len(in.DTypes) != 1 || in.DTypes[0] != "F32" || in.SizeBytes <= int64(4*in.Params) || in.Spec.Name != "seed-text" {
		t.Errorf("inspect: %+v", in)
	}
	if stdout, _, err = runEngineCmd(t, "", "inspect", model); err != nil || !strings.Contains(stdout, "sha256") {
		t.Errorf("inspect (plain): %v\n%s", err, stdout)
	}

	stdout, _, err = runEngineCmd(t, "", "eval", model, "--data", tsv, "--holdout", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ev evalOutput
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Samples != 4 || ev.TestAccuracy != tr["test_accuracy"] {
		t.Errorf("eval %+v, train said accuracy %v", ev, tr["test_accuracy"])
	}
	// The per-class report: one score per class, supports adding up to
	// the samples, a 2×2 confusion matrix whose diagonal is the accuracy.
	support, diag := 0, 0
	for i, c := range ev.Classes {
		support += c.Support
		diag += ev.Confusion[i][i]
	}
	if len(ev.Classes) != 2 || len(ev.Confusion) != 2 || support != 4 || float64(diag)/4 != ev.TestAccuracy {
		t.Errorf("eval report: classes %+v, confusion %v", ev.Classes, ev.Confusion)
	}
	if stdout, _, err = runEngineCmd(t, "", "eval", model, "--data", tsv, "--holdout", "0"); err != nil ||
		!strings.Contains(stdout, "precision") || !strings.Contains(stdout, "confusion") {
		t.Errorf("eval (plain): %v\n%s", err, stdout)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(bad, []byte("a\tfine\nb\tfine\n\"unterminated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.safetensors")
	if err := os.WriteFile(junk, []byte("not a model at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"train", "--model", "mlp", "--data", filepath.Join(dir, "nope")}, "--data: " + filepath.Join(dir, "nope") + ": no such file"},
		{[]string{"train", "--data", bad}, `"model" not set`},
		{[]string{"train", "--model", "nosuch", "--data", bad, "--holdout", "0"}, "not a preset"},
		{[]string{"train", "--model", "mlp", "--data", bad, "--epochs", "0"}, "--epochs"},
		{[]string{"train", "--model", "lstm-text", "--data", bad}, "bad.tsv:3:"},
		{[]string{"train", "--model", "mlp", "--data", bad, "--holdout", "1.5"}, "--holdout"},
		{[]string{"train", "--model", "text-ngram", "--data", bad, "--class-weight", "heavy"}, `--class-weight "heavy"`},
		{[]string{"eval", junk, "--data", bad}, "junk.safetensors"},
		{[]string{"predict", filepath.Join(dir, "absent.safetensors"), "x"}, "absent.safetensors"},
		{[]string{"inspect", junk}, "junk.safetensors"},
	}
	for _, c := range cases {
		_, _, err := runEngineCmd(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("shoal %s: err = %v, want it to mention %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
