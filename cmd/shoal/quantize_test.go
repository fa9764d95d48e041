package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
)

// TestCLIQuantizeAndPrune: a text model (embedding + LSTM) trained here,
// quantized to int8 with --data, then used by predict, eval and inspect
// like a float file; prune writes a model with the asked share of zeros.
func TestCLIQuantizeAndPrune(t *testing.T) {
	dir := t.TempDir()
	tsv := filepath.Join(dir, "days.tsv")
	if err := os.WriteFile(tsv, []byte("good\t今天天气很好\ngood\t今天心情很好\nbad\t今天天气很差\nbad\t今天心情很差\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "days.safetensors")
	if _, stderr, err := runEngineCmd(t, "", "train", "--model", "seed-text", "--data", tsv, "--holdout", "0",
		"--epochs", "10", "--lr", "0.01", "--out", model); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	q := filepath.Join(dir, "days-int8.safetensors")
	stdout, stderr, err := runEngineCmd(t, "", "quantize", model, "--int8", "-o", q, "--data", tsv, "--holdout", "0", "--json")
	if err != nil {
		t.Fatalf("quantize: %v\n%s", err, stderr)
	}
	var res quantizeOutput
	if err := json.Unmarshal([]byte(lastLine(stdout)), &res); err != nil {
		t.Fatalf("quantize --json: %v\n%s", err, stdout)
	}
	if res.Scheme != artifact.SchemeInt8 || res.SizeAfter >= res.SizeBefore || res.AccAfter == nil || res.Samples != 4 {
		t.Fatalf("quantize --json: %+v", res)
	}
	a, err := artifact.Load(q)
	if err != nil || !a.Model.Quantized() {
		t.Fatalf("load: %v (quantized %v)", err, a != nil && a.Model.Quantized())
	}
	for _, args := range [][]string{
		{"predict", q, "今天天气很好", "--json"},
		{"eval", q, "--data", tsv, "--holdout", "0", "--json"},
		{"inspect", q, "--json"},
	} {
		if _, stderr, err := runEngineCmd(t, "", args...); err != nil {
			t.Errorf("%s on the int8 file: %v\n%s", args[0], err, stderr)
		}
	}
	for _, bad := range [][]string{
		{"quantize", model, "-o", q},               // no --int8
		{"quantize", model, "--int8"},              // no -o
		{"quantize", q, "--int8", "-o", q + "2"},   // already int8
		{"quantize", model, "--int8", "-o", model}, // would overwrite the input
	} {
		if _, _, err := runEngineCmd(t, "", bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}

	p := filepath.Join(dir, "days-pruned.safetensors")
	stdout, stderr, err = runEngineCmd(t, "", "prune", model, "--sparsity", "0.5", "-o", p, "--data", tsv, "--holdout", "0", "--epochs", "0", "--json")
	if err != nil {
		t.Fatalf("prune: %v\n%s", err, stderr)
	}
	var pr pruneOutput
	if err := json.Unmarshal([]byte(lastLine(stdout)), &pr); err != nil {
		t.Fatal(err)
	}
	b, err := artifact.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, v := range b.Model.Params() {
		if v == 0 {
			zeros++
		}
	}
	if pr.Pruned == 0 || zeros < pr.Pruned {
		t.Fatalf("prune: %+v, %d zeros in the file", pr, zeros)
	}
	if _, _, err := runEngineCmd(t, "", "prune", model, "--sparsity", "1", "-o", p); err == nil {
		t.Error("sparsity 1 accepted")
	}
}
