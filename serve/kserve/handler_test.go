package kserve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/inference/inferencetest"
)

type obj = map[string]any

func norm(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// do sends one request to srv and returns the status, headers and decoded
// JSON body, failing unless the answer is application/json.
func do(t *testing.T, srv *httptest.Server, method, path, body string, hdr ...string) (int, http.Header, any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, ct)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s: answer %q: %v", method, path, data, err)
	}
	return resp.StatusCode, resp.Header, v
}

func concat(xs ...[]float64) []float64 {
	var out []float64
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

func concatAny(xs ...[]any) []any {
	var out []any
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

func tmeta(name, dtype string, shape ...int) obj {
	return obj{"name": name, "datatype": dtype, "shape": shape}
}

var outputsMeta = func(classes int) []any {
	return []any{
		tmeta("class", "INT64", -1),
		tmeta("label", "BYTES", -1),
		tmeta("probability", "FP32", -1),
		tmeta("probabilities", "FP32", -1, classes),
	}
}

func outTensor(name, dtype string, shape []int, data any) obj {
	return obj{"name": name, "shape": shape, "datatype": dtype, "data": data}
}

// allOutputs is the answer's outputs for predictions of classes cs of the
// labels.
func allOutputs(labels []string, cs ...int) []any {
	k := len(labels)
	var cls, lab, p []any
	var ps [][]any
	for _, c := range cs {
		cls = append(cls, c)
		lab = append(lab, labels[c])
		p = append(p, inferencetest.F32(0.55))
		ps = append(ps, inferencetest.Probs(k, c))
	}
	return []any{
		outTensor("class", "INT64", []int{len(cs)}, cls),
		outTensor("label", "BYTES", []int{len(cs)}, lab),
		outTensor("probability", "FP32", []int{len(cs)}, p),
		outTensor("probabilities", "FP32", []int{len(cs), k}, concatAny(ps...)),
	}
}

func input(name, dtype string, shape []int, data any) obj {
	return obj{"name": name, "shape": shape, "datatype": dtype, "data": data}
}

// TestReplay sends every documented request shape through a real listener
// and compares whole answers.
func TestReplay(t *testing.T) {
	cat, ms := inferencetest.NewCatalog()
	srv := httptest.NewServer(NewHandler(cat, Options{ServerVersion: "1.2.3"}))
	defer srv.Close()
	bg := []string{"bad", "good"}
	mnistMeta := obj{"name": "mnist", "versions": []string{"3", "2"}, "platform": "shoal",
		"inputs": []any{tmeta("x", "FP32", -1, 28, 28)}, "outputs": outputsMeta(10)}
	cases := []struct {
		name, method, path string
		body               any // marshalled unless a string
		status             int
		want               any
	}{
		{"server metadata", "GET", "/v2", nil, 200, obj{"name": "shoal", "version": "1.2.3", "extensions": []any{}}},
		{"server metadata slash", "GET", "/v2/", nil, 200, obj{"name": "shoal", "version": "1.2.3", "extensions": []any{}}},
		{"live", "GET", "/v2/health/live", nil, 200, obj{"live": true}},
		{"ready", "GET", "/v2/health/ready", nil, 200, obj{"ready": true}},
		{"model metadata", "GET", "/v2/models/mnist", nil, 200, mnistMeta},
		{"model metadata version", "GET", "/v2/models/mnist/versions/2", nil, 200, mnistMeta},
		{"model metadata text", "GET", "/v2/models/sentiment", nil, 200, obj{"name": "sentiment", "versions": []string{"1"}, "platform": "shoal",
			"inputs": []any{tmeta("text", "BYTES", -1)}, "outputs": outputsMeta(2)}},
		{"model metadata failed version", "GET", "/v2/models/mnist/versions/1", nil, 404, obj{"error": `model "mnist" version 1 not found (not loaded, or it failed to load)`}},
		{"model metadata unknown", "GET", "/v2/models/nope", nil, 404, obj{"error": `model "nope" not found`}},
		{"model metadata loading", "GET", "/v2/models/loading", nil, 503, nil},
		{"model ready", "GET", "/v2/models/mnist/ready", nil, 200, obj{"name": "mnist", "ready": true}},
		{"model version ready", "GET", "/v2/models/mnist/versions/2/ready", nil, 200, obj{"name": "mnist", "ready": true}},
		{"model loading not ready", "GET", "/v2/models/loading/ready", nil, 400, obj{"name": "loading", "ready": false}},
		{"model failed version ready", "GET", "/v2/models/mnist/versions/1/ready", nil, 404, nil},
		{"model unknown ready", "GET", "/v2/models/nope/ready", nil, 404, obj{"error": `model "nope" not found`}},

		{"infer FP32 flat with id", "POST", "/v2/models/mnist/infer",
			obj{"id": "42", "inputs": []any{input("x", "FP32", []int{2, 784}, concat(inferencetest.Flat(3), inferencetest.Flat(7)))}}, 200,
			obj{"model_name": "mnist", "model_version": "3", "id": "42", "outputs": allOutputs(inferencetest.Digits, 3, 7)}},
		{"infer FP32 nested version", "POST", "/v2/models/mnist/versions/2/infer",
			obj{"id": "a", "inputs": []any{input("x", "FP32", []int{1, 28, 28}, []any{inferencetest.Image(5)})}}, 200,
			obj{"model_name": "mnist", "model_version": "2", "id": "a", "outputs": allOutputs(inferencetest.Digits, 5)}},
		{"infer INT64 flat 28x28", "POST", "/v2/models/mnist/infer",
			obj{"id": "b", "inputs": []any{input("x", "INT64", []int{1, 28, 28}, inferencetest.Flat(4))}}, 200,
			obj{"model_name": "mnist", "model_version": "3", "id": "b", "outputs": allOutputs(inferencetest.Digits, 4)}},
		{"infer FP64", "POST", "/v2/models/mnist/infer",
			obj{"id": "c", "inputs": []any{input("x", "FP64", []int{1, 784}, inferencetest.Flat(2))}}, 200,
			obj{"model_name": "mnist", "model_version": "3", "id": "c", "outputs": allOutputs(inferencetest.Digits, 2)}},
		{"infer BYTES with outputs filter", "POST", "/v2/models/sentiment/infer",
			obj{"id": "t", "inputs": []any{input("text", "BYTES", []int{2}, []string{"hello", "hi"})},
				"outputs": []any{obj{"name": "probabilities"}, obj{"name": "label", "parameters": obj{"binary_data": false}}}}, 200,
			obj{"model_name": "sentiment", "model_version": "1", "id": "t", "outputs": []any{
				outTensor("probabilities", "FP32", []int{2, 2}, concatAny(inferencetest.Probs(2, 1), inferencetest.Probs(2, 0))),
				outTensor("label", "BYTES", []int{2}, []string{"good", "bad"}),
			}}},
		{"infer BYTES [N,1] nested with parameters", "POST", "/v2/models/sentiment/infer",
			obj{"id": "u", "parameters": obj{"priority": 1, "trace": true}, "inputs": []any{
				obj{"name": "text", "shape": []int{2, 1}, "datatype": "BYTES", "parameters": obj{"content_type": "str"}, "data": []any{[]any{"a"}, []any{"héllo"}}}},
				"extension_field": obj{"x": 1}}, 200,
			obj{"model_name": "sentiment", "model_version": "1", "id": "u", "outputs": allOutputs(bg, 1, 1)}},
		{"infer null optional fields", "POST", "/v2/models/sentiment/infer",
			`{"id": "n", "parameters": null, "outputs": null, "inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["ab"], "parameters": null}]}`, 200,
			obj{"model_name": "sentiment", "model_version": "1", "id": "n", "outputs": allOutputs(bg, 0)}},
		{"infer unknown model", "POST", "/v2/models/half/infer", obj{"inputs": []any{input("x", "FP32", []int{1, 1}, []float64{1})}}, 404, obj{"error": `model "half" not found`}},
		{"infer loading", "POST", "/v2/models/loading/infer", obj{"inputs": []any{input("text", "BYTES", []int{1}, []string{"a"})}}, 503, nil},
		{"infer overloaded", "POST", "/v2/models/busy/infer", obj{"inputs": []any{input("text", "BYTES", []int{1}, []string{"a"})}}, 429, obj{"error": "queue full: overloaded"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ok := c.body.(string)
			if !ok && c.body != nil {
				body = mustJSON(t, c.body)
			}
			st, _, got := do(t, srv, c.method, c.path, body)
			if st != c.status {
				t.Fatalf("status %d, want %d; answer %v", st, c.status, got)
			}
			if c.want == nil {
				if m, ok := got.(obj); !ok || m["error"] == "" {
					t.Fatalf("answer %v, want an error", got)
				}
				return
			}
			if want := norm(t, c.want); !reflect.DeepEqual(got, want) {
				t.Fatalf("answer\n%s\nwant\n%s", mustJSON(t, got), mustJSON(t, want))
			}
		})
	}

	// An answer to a request without an id has one of its own.
	_, _, got := do(t, srv, "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}`)
	id, _ := got.(obj)["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("generated id %q", id)
	}
	if n := len(ms["mnist2"].Batches()); n != 1 {
		t.Errorf("mnist v2 predicted %d batches, want 1", n)
	}
	if b := ms["mnist3"].Batches()[0]; len(b) != 2 || len(b[0].([]float32)) != 784 {
		t.Errorf("mnist v3 first batch: %d inputs", len(b))
	}
	if ms["sentiment"].Checked() == 0 || ms["mnist3"].Checked() == 0 {
		t.Errorf("inputs not checked before predict")
	}

	// A server without a loaded model is live but not ready.
	empty := httptest.NewServer(NewHandler(&inferencetest.FakeCatalog{Models: map[string][]inferencetest.FakeVersion{
		"loading": {{Status: inference.VersionStatus{Version: 1, State: inference.StateLoading}}}}}, Options{}))
	defer empty.Close()
	if st, _, got := do(t, empty, "GET", "/v2/health/ready", ""); st != 503 || !reflect.DeepEqual(got, obj{"ready": false}) {
		t.Errorf("ready without models: %d %v", st, got)
	}
	if st, _, got := do(t, empty, "GET", "/v2/health/live", ""); st != 200 || !reflect.DeepEqual(got, obj{"live": true}) {
		t.Errorf("live without models: %d %v", st, got)
	}
}

// TestMalformed sends bad requests through a real listener: each gets its
// status and a message that says what is wrong.
func TestMalformed(t *testing.T) {
	cat, _ := inferencetest.NewCatalog()
	srv := httptest.NewServer(NewHandler(cat, Options{MaxBodyBytes: 8 << 10, MaxBatch: 3}))
	defer srv.Close()
	text := func(shape string, data string) string {
		return `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": ` + shape + `, "data": ` + data + `}]}`
	}
	reg := func(dtype, shape, data string) string {
		return `{"inputs": [{"name": "x", "datatype": "` + dtype + `", "shape": ` + shape + `, "data": ` + data + `}]}`
	}
	big := text("[1]", `["`+strings.Repeat("a", 9<<10)+`"]`)
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"empty body", "POST", "/v2/models/sentiment/infer", ``, 400, "request body is empty"},
		{"not JSON", "POST", "/v2/models/sentiment/infer", `inputs`, 400, "malformed JSON at byte"},
		{"truncated", "POST", "/v2/models/sentiment/infer", `{"inputs": [`, 400, "truncated"},
		{"trailing", "POST", "/v2/models/sentiment/infer", text("[1]", `["a"]`) + `]`, 400, "trailing data"},
		{"not an object", "POST", "/v2/models/sentiment/infer", `[]`, 400, "must be a JSON object, not a list"},
		{"NaN", "POST", "/v2/models/reg/infer", reg("FP32", "[1,2]", "[NaN, 1]"), 400, "NaN at byte"},
		{"Infinity", "POST", "/v2/models/reg/infer", reg("FP32", "[1,2]", "[1, Infinity]"), 400, "NaN and Infinity are not accepted"},
		{"-Infinity", "POST", "/v2/models/reg/infer", reg("FP64", "[1,2]", "[1, -Infinity]"), 400, "-Infinity at byte"},
		{"FP32 overflow", "POST", "/v2/models/reg/infer", reg("FP32", "[1,2]", "[1e39, 1]"), 400, "outside the finite range of FP32"},
		{"FP64 too big for the model", "POST", "/v2/models/reg/infer", reg("FP64", "[1,2]", "[1e300, 1]"), 400, "outside the finite range of FP32, which this model computes in"},
		{"no inputs", "POST", "/v2/models/sentiment/infer", `{"id": "1"}`, 400, `"inputs" is required`},
		{"inputs empty", "POST", "/v2/models/sentiment/infer", `{"inputs": []}`, 400, `"inputs" is empty`},
		{"inputs object", "POST", "/v2/models/sentiment/infer", `{"inputs": {}}`, 400, `"inputs" must be a list of tensors, not an object`},
		{"id number", "POST", "/v2/models/sentiment/infer", `{"id": 42, "inputs": []}`, 400, `"id" must be a string, not a number`},
		{"tensor not object", "POST", "/v2/models/sentiment/infer", `{"inputs": [1]}`, 400, "inputs[0]: a tensor must be an object"},
		{"no name", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"shape": [1], "datatype": "BYTES", "data": ["a"]}]}`, 400, `"name" is required`},
		{"no shape", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "data": ["a"]}]}`, 400, `input "text": "shape" is required`},
		{"no datatype", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "shape": [1], "data": ["a"]}]}`, 400, `"datatype" is required`},
		{"no data", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES"}]}`, 400, `"data" is required`},
		{"negative dim", "POST", "/v2/models/sentiment/infer", text("[-1]", `["a"]`), 400, "shape[0] is -1; a dimension is an integer >= 0"},
		{"fraction dim", "POST", "/v2/models/sentiment/infer", text("[1.5]", `["a"]`), 400, "shape[0] is 1.5"},
		{"huge shape", "POST", "/v2/models/sentiment/infer", text("[100000, 100000, 100000]", `["a"]`), 400, "holds too many elements"},
		{"lower-case datatype", "POST", "/v2/models/reg/infer", reg("fp32", "[1,2]", "[1, 2]"), 400, `unknown datatype "fp32"`},
		{"FP16", "POST", "/v2/models/reg/infer", reg("FP16", "[1,2]", "[1, 2]"), 400, "datatype FP16 has no JSON form"},
		{"count mismatch", "POST", "/v2/models/reg/infer", reg("FP32", "[2,2]", "[1, 2, 3]"), 400, "shape [2,2] holds 4 elements, \"data\" has 3"},
		{"nested mismatch", "POST", "/v2/models/reg/infer", reg("FP32", "[2,2]", "[[1, 2], [3]]"), 400, "a list of 1 at depth 1, where shape [2,2] wants 2"},
		{"nested too deep", "POST", "/v2/models/reg/infer", reg("FP32", "[1,2]", "[[[1], [2]]]"), 400, "nests deeper than shape [1,2]"},
		{"string in FP32", "POST", "/v2/models/reg/infer", reg("FP32", "[1,2]", `[1, "2"]`), 400, `data element 1: "2" is a string, not a number as datatype FP32 needs`},
		{"number in BYTES", "POST", "/v2/models/sentiment/infer", text("[1]", `[1]`), 400, "data element 0: 1 is a number, not a string as datatype BYTES needs"},
		{"INT8 out of range", "POST", "/v2/models/reg/infer", reg("INT8", "[1,2]", "[1, 300]"), 400, "300 is not an integer in the range of INT8"},
		{"INT32 fraction", "POST", "/v2/models/reg/infer", reg("INT32", "[1,2]", "[1, 2.5]"), 400, "2.5 is not an integer in the range of INT32"},
		{"UINT8 negative", "POST", "/v2/models/reg/infer", reg("UINT8", "[1,2]", "[1, -1]"), 400, "-1 is not an integer in the range of UINT8"},
		{"BOOL for image", "POST", "/v2/models/reg/infer", reg("BOOL", "[1,2]", "[true, false]"), 400, "datatype BOOL; this image model takes numbers"},
		{"BYTES for image", "POST", "/v2/models/reg/infer", reg("BYTES", "[1,2]", `["a", "b"]`), 400, "datatype BYTES; this image model takes numbers"},
		{"FP32 for text", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1]}]}`, 400, "this text model takes BYTES"},
		{"wrong image shape", "POST", "/v2/models/mnist/infer", `{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}`, 400, "shape [1,3], want [1,28,28] or [1,784]"},
		{"no batch", "POST", "/v2/models/reg/infer", reg("FP32", "[2]", "[1, 2]"), 400, "shape [2], want [2,2]"},
		{"scalar", "POST", "/v2/models/reg/infer", reg("FP32", "[]", "[1]"), 400, "has no batch"},
		{"empty batch", "POST", "/v2/models/reg/infer", reg("FP32", "[0,2]", "[]"), 400, "has no batch"},
		{"text shape", "POST", "/v2/models/sentiment/infer", text("[1,2]", `["a", "b"]`), 400, "shape [1,2], want [1] or [1,1]"},
		{"too big a batch", "POST", "/v2/models/sentiment/infer", text("[4]", `["a", "b", "c", "d"]`), 400, "a batch of 4, at most 3"},
		{"wrong input name", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "input-0", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}`, 400, `this model takes one input, "text"; the request has "input-0"`},
		{"two inputs", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}, {"name": "y", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}`, 400, `the request has "text", "y"`},
		{"same input twice", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}, {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}`, 400, `input "text" given twice`},
		{"unknown output", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}], "outputs": [{"name": "logits"}]}`, 400, `unknown output "logits"; this model gives class, label, probability, probabilities`},
		{"output twice", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}], "outputs": [{"name": "class"}, {"name": "class"}]}`, 400, `output "class" requested twice`},
		{"output without name", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}], "outputs": [{}]}`, 400, `outputs[0]: "name" is required`},
		{"parameter list", "POST", "/v2/models/sentiment/infer", `{"parameters": {"a": [1]}, "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}]}`, 400, `parameter "a" of the request is a list; a parameter is a string, number or boolean`},
		{"binary data parameter", "POST", "/v2/models/sentiment/infer", `{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 4}}]}`, 400, "binary tensor data extension is not supported"},
		{"body too large", "POST", "/v2/models/sentiment/infer", big, 413, "larger than 8192 bytes"},
		{"bad version", "GET", "/v2/models/mnist/versions/v3", ``, 400, `version "v3": a version is a positive integer`},
		{"version 0", "POST", "/v2/models/mnist/versions/0/infer", `{}`, 400, "a version is a positive integer"},
		{"unknown path", "GET", "/v2/models/mnist/explain", ``, 404, "unknown path /v2/models/mnist/explain"},
		{"unknown health", "GET", "/v2/health/startup", ``, 404, "unknown path"},
		{"outside v2", "GET", "/v1/models/mnist", ``, 404, "unknown path"},
		{"v2x", "GET", "/v2x", ``, 404, "unknown path"},
		{"GET infer", "GET", "/v2/models/mnist/infer", ``, 405, "use POST"},
		{"POST metadata", "POST", "/v2/models/mnist", `{}`, 405, "use GET"},
		{"POST ready", "POST", "/v2/health/ready", ``, 405, "use GET"},
		{"PUT server", "PUT", "/v2", ``, 405, "use GET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, hdr, got := do(t, srv, c.method, c.path, c.body)
			if st != c.status {
				t.Fatalf("status %d, want %d; answer %v", st, c.status, got)
			}
			m, ok := got.(obj)
			msg, _ := m["error"].(string)
			if !ok || len(m) != 1 || !strings.Contains(msg, c.want) {
				t.Fatalf("answer %v, want {\"error\": …%q…}", got, c.want)
			}
			if st == 405 && hdr.Get("Allow") == "" {
				t.Fatalf("405 without Allow")
			}
		})
	}
	st, _, got := do(t, srv, "POST", "/v2/models/sentiment/infer", text("[1]", `["a"]`), "Inference-Header-Content-Length", "10")
	if st != 400 || !strings.Contains(mustJSON(t, got), "binary tensor data extension") {
		t.Errorf("binary request: %d %v", st, got)
	}
}

// TestDeadline checks that the request's context reaches Model.Predict: a
// deadline on it, or Options.Timeout, ends an inference with 504.
func TestDeadline(t *testing.T) {
	cat, _ := inferencetest.NewCatalog()
	body := `{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["a"]}]}`

	h := NewHandler(cat, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("POST", "/v2/models/slow/infer", strings.NewReader(body)).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "deadline") {
		t.Fatalf("request deadline: %d %s", rec.Code, rec.Body)
	}

	srv := httptest.NewServer(NewHandler(cat, Options{Timeout: 20 * time.Millisecond}))
	defer srv.Close()
	if st, _, got := do(t, srv, "POST", "/v2/models/slow/infer", body); st != http.StatusGatewayTimeout {
		t.Fatalf("Options.Timeout: %d %v", st, got)
	}
}

func TestParseModelPath(t *testing.T) {
	cases := []struct {
		path string
		want *modelRoute
	}{
		{"m", &modelRoute{model: "m"}},
		{"m/ready", &modelRoute{model: "m", action: "ready"}},
		{"m/infer", &modelRoute{model: "m", action: "infer"}},
		{"m/versions/3", &modelRoute{model: "m", version: 3}},
		{"m/versions/3/infer", &modelRoute{model: "m", version: 3, action: "infer"}},
		{"a%2Fb/versions/1/ready", &modelRoute{model: "a/b", version: 1, action: "ready"}},
		{"m/versions", nil},
		{"m/versions/3/x", nil},
		{"m/labels/x", nil},
		{"m/ready/x/y/z", nil},
	}
	for _, c := range cases {
		got, err := parseModelPath(strings.Split(c.path, "/"))
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v %v, want %+v", c.path, got, err, c.want)
		}
	}
}
