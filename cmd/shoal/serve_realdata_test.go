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

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/data/datatest"
)

// realDataModels trains an MNIST mlp and an SMS lstm-text for one epoch each
// (a few seconds) into a fresh store, or skips when the data sets are not
// given (make test gives them through SHOAL_MNIST and SHOAL_SMS).
func realDataModels(t *testing.T, ctx context.Context) (store string, mnistTest *data.Dataset, mlp, lstm string) {
	t.Helper()
	if testing.Short() {
		t.Skip("trains two models on real data")
	}
	mnist, sms := datatest.MNIST(t), datatest.SMS(t)
	dir := t.TempDir()
	mlp, lstm = filepath.Join(dir, "mlp.safetensors"), filepath.Join(dir, "sms.safetensors")
	for _, args := range [][]string{
		{"train", "--model", "mlp", "--data", mnist, "--epochs", "1", "--out", mlp},
		{"train", "--model", "lstm-text", "--data", sms, "--epochs", "1", "--out", lstm},
	} {
		if _, stderr, err := runJobCLI(ctx, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr)
		}
	}
	node := filepath.Join(dir, "node")
	for _, add := range [][2]string{{"mnist", mlp}, {"mnist", mlp}, {"sms", lstm}} {
		if _, _, err := runJobCLI(ctx, "models", "add", add[0], add[1], "--data-dir", node); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runJobCLI(ctx, "models", "label", "mnist", "1", "stable", "--data-dir", node); err != nil {
		t.Fatal(err)
	}
	_, test, err := data.LoadMNIST(mnist)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(node, "models"), test, mlp, lstm
}

// TestServeReplaysReferenceRequests replays, against `shoal serve` on a real
// listener, the request shapes TF Serving's REST API and KServe's v2
// protocol document, with an MNIST mlp and an SMS lstm-text: status,
// metadata, versions and labels, the row and columnar predict forms,
// classify, the 404 body, health, server and model metadata, readiness,
// and infer with FP32 and BYTES. Every prediction equals `shoal predict` on
// the same inputs.
func TestServeReplaysReferenceRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, test, mlp, lstm := realDataModels(t, ctx)

	images := make([][]float32, 3)
	for i := range images {
		images[i] = test.X[i*784 : (i+1)*784]
	}
	texts := []string{"WINNER!! You have won a free prize, call now to claim", "see you at lunch tomorrow?", "URGENT your mobile number has won 2000 cash"}
	wantImg := predictCLI(t, ctx, mlp, vectorsArgs(images)...)
	wantTxt := predictCLI(t, ctx, lstm, texts...)

	addr := jobFreeAddr(t)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := runJobCLI(sctx, "serve", "--models", store, "--http", addr)
		done <- err
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("shoal serve: %v", err)
		}
	}()
	base := "http://" + addr
	waitServing(t, ctx, base+"/v2/health/ready")

	nested := make([][][]float32, len(images))
	for i, im := range images {
		for r := range 28 {
			nested[i] = append(nested[i], im[r*28:(r+1)*28])
		}
	}
	type check func(t *testing.T, b []byte)
	labelsOf := func(b []byte, key string) []string {
		var out map[string]json.RawMessage
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var rows []struct {
			Label       string  `json:"label"`
			Probability float64 `json:"probability"`
		}
		if err := json.Unmarshal(out[key], &rows); err == nil {
			var ls []string
			for _, r := range rows {
				ls = append(ls, r.Label)
			}
			return ls
		}
		var cols struct {
			Label []string `json:"label"`
		}
		if err := json.Unmarshal(out[key], &cols); err != nil {
			t.Fatalf("%s: neither rows nor columns: %v", b, err)
		}
		return cols.Label
	}
	sameLabels := func(want []predictionOut, key string) check {
		return func(t *testing.T, b []byte) {
			got := labelsOf(b, key)
			if len(got) != len(want) {
				t.Fatalf("%d answers, want %d: %s", len(got), len(want), b)
			}
			for i := range want {
				if got[i] != want[i].Label {
					t.Errorf("answer %d: %s, shoal predict says %s", i, got[i], want[i].Label)
				}
			}
		}
	}
	contains := func(subs ...string) check {
		return func(t *testing.T, b []byte) {
			for _, s := range subs {
				if !strings.Contains(string(b), s) {
					t.Errorf("answer lacks %s: %s", s, b)
				}
			}
		}
	}
	v2Labels := func(want []predictionOut) check {
		return func(t *testing.T, b []byte) {
			var out struct {
				ID      string `json:"id"`
				Outputs []struct {
					Name string `json:"name"`
					Data []any  `json:"data"`
				} `json:"outputs"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.ID != "req-7" {
				t.Errorf("id %q not echoed", out.ID)
			}
			for _, o := range out.Outputs {
				if o.Name != "label" {
					continue
				}
				for i := range want {
					if i >= len(o.Data) || o.Data[i] != want[i].Label {
						t.Errorf("v2 labels %v, shoal predict %v", o.Data, want)
						return
					}
				}
				return
			}
			t.Errorf("no label output: %s", b)
		}
	}
	cases := []struct {
		method, path string
		body         any
		status       int
		check        check
	}{
		{"GET", "/v1/models/mnist", nil, 200, contains(`"version":"2"`, `"version":"1"`, `"state":"AVAILABLE"`, `"error_code":"OK"`)},
		{"GET", "/v1/models/mnist/versions/1", nil, 200, contains(`"version":"1"`)},
		{"GET", "/v1/models/mnist/labels/stable", nil, 200, contains(`"version":"1"`)},
		{"GET", "/v1/models/mnist/metadata", nil, 200, contains(`"model_spec"`, `"signature_def"`, `"serving_default"`, `"-1"`, `DT_FLOAT`)},
		{"GET", "/v1/models/sms/metadata", nil, 200, contains(`DT_STRING`)},
		{"POST", "/v1/models/mnist:predict", map[string]any{"instances": nested}, 200, sameLabels(wantImg, "predictions")},
		{"POST", "/v1/models/mnist/versions/2:predict", map[string]any{"instances": images}, 200, sameLabels(wantImg, "predictions")},
		{"POST", "/v1/models/mnist/labels/stable:predict", map[string]any{"signature_name": "serving_default", "inputs": images}, 200, sameLabels(wantImg, "outputs")},
		{"POST", "/v1/models/sms:predict", map[string]any{"instances": texts}, 200, sameLabels(wantTxt, "predictions")},
		{"POST", "/v1/models/sms:predict", map[string]any{"instances": []map[string]string{{"b64": "V0lOTkVSISEgY2xhaW0geW91ciBwcml6ZQ=="}}}, 200, contains(`"label"`)},
		{"POST", "/v1/models/sms:classify", map[string]any{"examples": []map[string]string{{"text": texts[0]}}}, 200, contains(`"results"`, `"`+wantTxt[0].Label+`"`)},
		{"POST", "/v1/models/mnist:predict", map[string]any{"instances": images, "inputs": images}, 400, contains(`"error"`)},
		{"POST", "/v1/models/mnist:predict", map[string]any{"instances": [][]float32{{1, 2, 3}}}, 400, contains("784")},
		{"GET", "/v1/models/nosuch", nil, 404, contains(`"error"`, "nosuch")},
		{"GET", "/v1/models/mnist/versions/9", nil, 404, contains(`"error"`)},
		{"GET", "/v2/health/live", nil, 200, nil},
		{"GET", "/v2/health/ready", nil, 200, nil},
		{"GET", "/v2", nil, 200, contains(`"name"`, `"extensions"`)},
		{"GET", "/v2/models/mnist", nil, 200, contains(`"versions"`, `"FP32"`, `-1`)},
		{"GET", "/v2/models/mnist/versions/1/ready", nil, 200, nil},
		{"POST", "/v2/models/mnist/infer", map[string]any{"id": "req-7", "inputs": []map[string]any{{"name": "x", "shape": []int{3, 784}, "datatype": "FP32", "data": images}}}, 200, v2Labels(wantImg)},
		{"POST", "/v2/models/sms/versions/1/infer", map[string]any{"id": "req-7", "inputs": []map[string]any{{"name": "text", "shape": []int{3}, "datatype": "BYTES", "data": texts}}}, 200, v2Labels(wantTxt)},
		{"POST", "/v2/models/nosuch/infer", map[string]any{"inputs": []map[string]any{{"name": "text", "shape": []int{1}, "datatype": "BYTES", "data": []string{"hi"}}}}, 404, contains(`"error"`, "nosuch")},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body io.Reader
			if c.body != nil {
				b, _ := json.Marshal(c.body)
				body = bytes.NewReader(b)
			}
			req, _ := http.NewRequestWithContext(ctx, c.method, base+c.path, body)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			if c.check != nil {
				c.check(t, b)
			}
		})
	}

	// The probabilities, not only the labels, are shoal predict's.
	var v1 struct {
		Predictions []struct {
			Probabilities []float64 `json:"probabilities"`
		} `json:"predictions"`
	}
	b := postJSON(t, ctx, base+"/v1/models/mnist:predict", map[string]any{"instances": images})
	if err := json.Unmarshal(b, &v1); err != nil || len(v1.Predictions) != len(images) {
		t.Fatalf("%s: %v", b, err)
	}
	for i, w := range wantImg {
		if p := slices.Max(v1.Predictions[i].Probabilities); math.Abs(p-w.Probability) > 1e-5 {
			t.Errorf("image %d: served probability %v, shoal predict %v", i, p, w.Probability)
		}
	}
}

// predictCLI runs `shoal predict MODEL --json INPUT...`.
func predictCLI(t *testing.T, ctx context.Context, model string, inputs ...string) []predictionOut {
	t.Helper()
	out, _, err := runJobCLI(ctx, append([]string{"predict", model, "--json"}, inputs...)...)
	if err != nil {
		t.Fatal(err)
	}
	var p predictOutput
	if err := json.Unmarshal([]byte(out), &p); err != nil || len(p.Predictions) != len(inputs) {
		t.Fatalf("shoal predict: %s (%v)", out, err)
	}
	return p.Predictions
}

func vectorsArgs(vs [][]float32) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		b, _ := json.Marshal(v)
		out[i] = string(b)
	}
	return out
}

func postJSON(t *testing.T, ctx context.Context, url string, body any) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %s", url, resp.StatusCode, out)
	}
	return out
}

// waitServing waits for url to answer 200 (the server is up and every
// model loaded), within ctx.
func waitServing(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	var last string
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never answered 200: %s", url, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
