package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
)

// TestServeMatchesPredict trains a text model, adds it to a store, runs
// `shoal serve` on it and asks TF Serving's predict and KServe's infer the
// same texts `shoal predict` answers: the labels and probabilities agree.
func TestServeMatchesPredict(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	model := filepath.Join(dir, "days.safetensors")
	if _, stderr, err := runJobCLI(ctx, "train", "--model", "seed-text", "--data", datatest.DaysTSV(t, 80), "--epochs", "2", "--out", model); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	data := filepath.Join(dir, "node")
	if _, _, err := runJobCLI(ctx, "models", "add", "days", model, "--data-dir", data); err != nil {
		t.Fatal(err)
	}
	texts := []string{"good day 2", "sad rainy day", "terrible and bad 5"}
	out, _, err := runJobCLI(ctx, append([]string{"predict", model, "--json"}, texts...)...)
	if err != nil {
		t.Fatal(err)
	}
	var want predictOutput
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatal(err)
	}

	addr := jobFreeAddr(t)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := runJobCLI(sctx, "serve", "--models", filepath.Join(data, "models"), "--http", addr)
		done <- err
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("shoal serve: %v", err)
		}
	}()
	post := func(path string, body any) []byte {
		t.Helper()
		b, _ := json.Marshal(body)
		for {
			resp, err := http.Post("http://"+addr+path, "application/json", bytes.NewReader(b))
			if err == nil {
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return got
				}
				if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("POST %s: HTTP %d %s", path, resp.StatusCode, got)
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("POST %s: the server never answered: %v", path, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}

	var v1 struct {
		Predictions []struct {
			Label         string    `json:"label"`
			Probabilities []float64 `json:"probabilities"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(post("/v1/models/days:predict", map[string]any{"instances": texts}), &v1); err != nil || len(v1.Predictions) != len(texts) {
		t.Fatalf("v1 predict: %+v %v", v1, err)
	}
	var v2 struct {
		ModelName string `json:"model_name"`
		ID        string `json:"id"`
		Outputs   []struct {
			Name string `json:"name"`
			Data []any  `json:"data"`
		} `json:"outputs"`
	}
	inf := map[string]any{"id": "q-1", "inputs": []map[string]any{{"name": "text", "shape": []int{len(texts)}, "datatype": "BYTES", "data": texts}}}
	if err := json.Unmarshal(post("/v2/models/days/infer", inf), &v2); err != nil || v2.ModelName != "days" || v2.ID != "q-1" {
		t.Fatalf("v2 infer: %+v %v", v2, err)
	}
	var labels []any
	for _, o := range v2.Outputs {
		if o.Name == "label" {
			labels = o.Data
		}
	}
	for i, w := range want.Predictions {
		if v1.Predictions[i].Label != w.Label {
			t.Errorf("%q: v1 says %s, shoal predict %s", texts[i], v1.Predictions[i].Label, w.Label)
		}
		if p := slices.Max(v1.Predictions[i].Probabilities); math.Abs(p-w.Probability) > 1e-5 {
			t.Errorf("%q: v1 probability %v, shoal predict %v", texts[i], p, w.Probability)
		}
		if i >= len(labels) || labels[i] != w.Label {
			t.Errorf("%q: v2 labels %v, shoal predict %s", texts[i], labels, w.Label)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `shoal_serve_requests_total{api="v1",code="200",method="predict",model="days"`) {
		t.Errorf("/metrics lacks the predict request:\n%s", metrics)
	}
}
