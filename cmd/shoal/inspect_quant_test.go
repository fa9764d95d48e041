package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectShowsTheQuantization: inspect of an int8 file names the
// scheme, the activation mode (dynamic without calibration, static with
// --calib, with each layer's input maximum) and the layers holding int8
// weights (embedding, lstm and dense of a text model); of a float file,
// none of it.
func TestInspectShowsTheQuantization(t *testing.T) {
	dir := t.TempDir()
	tsv := filepath.Join(dir, "days.tsv")
	if err := os.WriteFile(tsv, []byte("good\t今天天气很好\ngood\t今天心情很好\nbad\t今天天气很差\nbad\t今天心情很差\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "days.safetensors")
	if _, stderr, err := runEngineCmd(t, "", "train", "--model", "seed-text", "--data", tsv, "--holdout", "0",
		"--epochs", "2", "--out", model); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	dyn, static := filepath.Join(dir, "dyn.safetensors"), filepath.Join(dir, "static.safetensors")
	if _, stderr, err := runEngineCmd(t, "", "quantize", model, "--int8", "-o", dyn); err != nil {
		t.Fatalf("quantize: %v\n%s", err, stderr)
	}
	if _, stderr, err := runEngineCmd(t, "", "quantize", model, "--int8", "--calib", tsv, "-o", static); err != nil {
		t.Fatalf("quantize --calib: %v\n%s", err, stderr)
	}
	inspect := func(path string) inspectOutput {
		t.Helper()
		stdout, stderr, err := runEngineCmd(t, "", "inspect", path, "--json")
		if err != nil {
			t.Fatalf("inspect %s: %v\n%s", path, err, stderr)
		}
		var out inspectOutput
		if err := json.Unmarshal([]byte(lastLine(stdout)), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if q := inspect(model).Quantization; q != nil {
		t.Errorf("a float file shows a quantization: %+v", q)
	}
	for path, mode := range map[string]string{dyn: "dynamic", static: "static"} {
		q := inspect(path).Quantization
		if q == nil {
			t.Fatalf("%s: no quantization in inspect --json", path)
		}
		var types []string
		for _, l := range q.Layers {
			types = append(types, l.Type)
			// Embeddings take token ids, not activations: never a scale.
			if wantMax := mode == "static" && l.Type != "embedding"; wantMax != (l.ActMax > 0) {
				t.Errorf("%s layer %d %s: act max %v with %s activations", mode, l.Index, l.Type, l.ActMax, mode)
			}
			if len(l.Tensors) == 0 {
				t.Errorf("%s layer %d: no int8 tensors named", mode, l.Index)
			}
		}
		if q.Scheme != "int8-symmetric-per-channel" || q.ActivationMode != mode || strings.Join(types, ",") != "embedding,lstm,dense" {
			t.Errorf("%s: %+v (layers %v)", mode, q, types)
		}
		stdout, _, err := runEngineCmd(t, "", "inspect", path)
		if err != nil || !strings.Contains(stdout, "int8 layers 0 embedding, 1 lstm, 2 dense") || !strings.Contains(stdout, "activations "+mode) ||
			!strings.Contains(stdout, "one float32 scale per output channel") {
			t.Errorf("inspect %s (plain): %v\n%s", mode, err, stdout)
		}
	}
}
