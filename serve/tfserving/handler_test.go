package tfserving

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/inference/inferencetest"
)

// norm round-trips v through JSON, so expected values compare with
// decoded answers.
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

type obj = map[string]any

// do sends one request to srv and returns the status, headers and decoded
// JSON body, failing unless the answer is application/json.
func do(t *testing.T, srv *httptest.Server, method, path, body string) (int, http.Header, any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
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

func itoa(i int) string { return strconv.Itoa(i) }

func b64(s string) obj { return obj{"b64": base64.StdEncoding.EncodeToString([]byte(s))} }

func pred(k, c int, labels []string) obj {
	return obj{"class": c, "label": labels[c], "probability": inferencetest.F32(0.55), "probabilities": inferencetest.Probs(k, c)}
}

func status(v int, state, code, msg string) obj {
	return obj{"version": itoa(v), "state": state, "status": obj{"error_code": code, "error_message": msg}}
}

func dims(sizes ...string) obj {
	d := make([]any, len(sizes))
	for i, s := range sizes {
		d[i] = obj{"size": s, "name": ""}
	}
	return obj{"dim": d, "unknown_rank": false}
}

func tensor(dtype, name string, sizes ...string) obj {
	return obj{"dtype": dtype, "tensor_shape": dims(sizes...), "name": name + ":0"}
}

func outputsMeta(classes string) obj {
	return obj{
		"class":         tensor("DT_INT64", "class", "-1"),
		"label":         tensor("DT_STRING", "label", "-1"),
		"probability":   tensor("DT_FLOAT", "probability", "-1"),
		"probabilities": tensor("DT_FLOAT", "probabilities", "-1", classes),
	}
}

// TestReplay sends every documented request shape through a real listener
// and compares whole answers.
func TestReplay(t *testing.T) {
	cat, ms := inferencetest.NewCatalog()
	srv := httptest.NewServer(NewHandler(cat, Options{}))
	defer srv.Close()

	mnistMeta := obj{
		"model_spec": obj{"name": "mnist", "signature_name": "", "version": "3"},
		"metadata": obj{"signature_def": obj{"signature_def": obj{"serving_default": obj{
			"inputs":      obj{"x": tensor("DT_FLOAT", "x", "-1", "28", "28")},
			"outputs":     outputsMeta("10"),
			"method_name": "tensorflow/serving/predict",
		}}}},
	}
	sentimentMeta := obj{
		"model_spec": obj{"name": "sentiment", "signature_name": "", "version": "1"},
		"metadata": obj{"signature_def": obj{"signature_def": obj{"serving_default": obj{
			"inputs":      obj{"text": tensor("DT_STRING", "text", "-1")},
			"outputs":     outputsMeta("2"),
			"method_name": "tensorflow/serving/predict",
		}}}},
	}
	bg := []string{"bad", "good"}
	cases := []struct {
		name, method, path string
		body               any // marshalled unless a string
		status             int
		want               any
	}{
		{"status all versions", "GET", "/v1/models/mnist", nil, 200, obj{"model_version_status": []any{
			status(3, "AVAILABLE", "OK", ""), status(2, "AVAILABLE", "OK", ""), status(1, "END", "UNKNOWN", "read model: bad magic")}}},
		{"status version", "GET", "/v1/models/mnist/versions/2", nil, 200, obj{"model_version_status": []any{status(2, "AVAILABLE", "OK", "")}}},
		{"status failed version", "GET", "/v1/models/mnist/versions/1", nil, 200, obj{"model_version_status": []any{status(1, "END", "UNKNOWN", "read model: bad magic")}}},
		{"status label", "GET", "/v1/models/mnist/labels/canary", nil, 200, obj{"model_version_status": []any{status(3, "AVAILABLE", "OK", "")}}},
		{"status case-insensitive", "GET", "/V1/Models/mnist/VERSIONS/3", nil, 200, obj{"model_version_status": []any{status(3, "AVAILABLE", "OK", "")}}},
		{"status loading", "GET", "/v1/models/loading", nil, 200, obj{"model_version_status": []any{status(1, "LOADING", "OK", "")}}},
		{"status unknown version", "GET", "/v1/models/mnist/versions/7", nil, 404, obj{"error": "Could not find version 7 of model mnist"}},
		{"status unknown model", "GET", "/v1/models/nope", nil, 404, obj{"error": "Could not find any versions of model nope"}},
		{"status unknown label", "GET", "/v1/models/mnist/labels/beta", nil, 404, obj{"error": "Unrecognized servable version label: beta"}},
		{"status no model", "GET", "/v1/models", nil, 400, obj{"error": "Missing model name in request."}},
		{"status HEAD", "HEAD", "/v1/models/mnist", nil, 200, nil},

		{"metadata latest", "GET", "/v1/models/mnist/metadata", nil, 200, mnistMeta},
		{"metadata label", "GET", "/v1/models/mnist/labels/canary/metadata", nil, 200, mnistMeta},
		{"metadata text", "GET", "/v1/models/sentiment/versions/1/metadata", nil, 200, sentimentMeta},
		{"metadata failed version", "GET", "/v1/models/mnist/versions/1/metadata", nil, 404, obj{"error": "Servable not found for request: Specific(mnist, 1)"}},
		{"metadata version 0", "GET", "/v1/models/mnist/versions/0/metadata", nil, 404, obj{"error": "Servable not found for request: Specific(mnist, 0)"}},
		{"metadata label to missing version", "GET", "/v1/models/mnist/labels/gone/metadata", nil, 404, obj{"error": "Servable not found for request: Specific(mnist, 9)"}},
		{"metadata unknown model", "GET", "/v1/models/half/metadata", nil, 404, obj{"error": "Servable not found for request: Latest(half)"}},

		{"predict instances", "POST", "/v1/models/mnist:predict", obj{"instances": []any{inferencetest.Image(3), inferencetest.Flat(7)}}, 200,
			obj{"predictions": []any{pred(10, 3, inferencetest.Digits), pred(10, 7, inferencetest.Digits)}}},
		{"predict named instances", "POST", "/v1/models/mnist:predict", obj{"instances": []any{obj{"x": inferencetest.Image(5)}}}, 200,
			obj{"predictions": []any{pred(10, 5, inferencetest.Digits)}}},
		{"predict version", "POST", "/v1/models/mnist/versions/2:predict", obj{"instances": []any{inferencetest.Flat(12)}}, 200,
			obj{"predictions": []any{pred(10, 2, inferencetest.Digits)}}},
		{"predict label", "POST", "/v1/models/mnist/labels/stable:PREDICT", obj{"signature_name": "serving_default", "instances": []any{inferencetest.Flat(1)}}, 200,
			obj{"predictions": []any{pred(10, 1, inferencetest.Digits)}}},
		{"predict inputs", "POST", "/v1/models/mnist:predict", obj{"inputs": []any{inferencetest.Image(1), inferencetest.Image(2)}}, 200,
			obj{"outputs": obj{"class": []any{1, 2}, "label": []any{"1", "2"}, "probability": []any{inferencetest.F32(0.55), inferencetest.F32(0.55)}, "probabilities": []any{inferencetest.Probs(10, 1), inferencetest.Probs(10, 2)}}}},
		{"predict named inputs flat", "POST", "/v1/models/mnist:predict", obj{"inputs": obj{"x": []any{inferencetest.Flat(4)}}}, 200,
			obj{"outputs": obj{"class": []any{4}, "label": []any{"4"}, "probability": []any{inferencetest.F32(0.55)}, "probabilities": []any{inferencetest.Probs(10, 4)}}}},
		{"predict text and b64", "POST", "/v1/models/sentiment:predict", obj{"instances": []any{"hello", b64("héllo!")}}, 200,
			obj{"predictions": []any{pred(2, 1, bg), pred(2, 0, bg)}}},
		{"predict text named", "POST", "/v1/models/sentiment:predict", obj{"instances": []any{obj{"text": "ab"}, obj{"text": b64("abc")}}}, 200,
			obj{"predictions": []any{pred(2, 0, bg), pred(2, 1, bg)}}},
		{"predict text inputs", "POST", "/v1/models/sentiment:predict", obj{"signature_name": "", "inputs": obj{"text": []any{"abc"}}}, 200,
			obj{"outputs": obj{"class": []any{1}, "label": []any{"good"}, "probability": []any{inferencetest.F32(0.55)}, "probabilities": []any{inferencetest.Probs(2, 1)}}}},
		{"predict unknown fields ignored", "POST", "/v1/models/sentiment:predict", obj{"instances": []any{"a"}, "extra": 1}, 200,
			obj{"predictions": []any{pred(2, 1, bg)}}},
		{"predict 404 body", "POST", "/v1/models/half:predict", `{"instances": [1.0,5.0]}`, 404,
			obj{"error": "Servable not found for request: Latest(half)"}},
		{"predict unknown label", "POST", "/v1/models/mnist/labels/beta:predict", obj{"instances": []any{inferencetest.Flat(1)}}, 404,
			obj{"error": "Unrecognized servable version label: beta"}},
		{"predict loading", "POST", "/v1/models/loading:predict", obj{"instances": []any{"a"}}, 503, nil},
		{"predict overloaded", "POST", "/v1/models/busy:predict", obj{"instances": []any{"a"}}, 429, obj{"error": "queue full: overloaded"}},

		{"classify image", "POST", "/v1/models/mnist:classify", obj{"examples": []any{obj{"x": inferencetest.Flat(3)}}}, 200,
			obj{"results": []any{classifyPairs(inferencetest.Digits, 3)}}},
		{"classify text and context", "POST", "/v1/models/sentiment:classify", obj{"context": obj{"text": "abc"}, "examples": []any{obj{}, obj{"other": 1}}}, 200,
			obj{"results": []any{classifyPairs(bg, 1), classifyPairs(bg, 1)}}},
		{"classify text list and b64", "POST", "/v1/models/sentiment/versions/1:classify", obj{"examples": []any{obj{"text": []any{"ab"}}, obj{"text": b64("x")}}}, 200,
			obj{"results": []any{classifyPairs(bg, 0), classifyPairs(bg, 1)}}},
		{"regress", "POST", "/v1/models/reg:regress", obj{"examples": []any{obj{"x": []any{1, 2}}, obj{"x": []any{0.5, 0.25}}}}, 200,
			obj{"results": []any{3, 0.75}}},
		{"regress refused for a classifier", "POST", "/v1/models/mnist:regress", obj{"examples": []any{obj{"x": inferencetest.Flat(3)}}}, 400,
			obj{"error": "Model mnist version 3 is a classifier with 10 outputs; :regress needs a model with one output (use :classify or :predict)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ok := c.body.(string)
			if !ok && c.body != nil {
				body = mustJSON(t, c.body)
			}
			if c.method == "HEAD" {
				req, _ := http.NewRequest("HEAD", srv.URL+c.path, nil)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
				}
				return
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

	// Routing reached the versions asked for, and every input was checked.
	if n := len(ms["mnist2"].Batches()); n != 2 {
		t.Errorf("mnist v2 predicted %d batches, want 2 (versions/2 and labels/stable)", n)
	}
	if got := ms["mnist3"].Batches()[0]; len(got) != 2 || len(got[0].([]float32)) != 784 || len(got[1].([]float32)) != 784 {
		t.Errorf("mnist v3 first batch %d inputs", len(got))
	}
	if ms["sentiment"].Checked() == 0 || ms["mnist3"].Checked() == 0 {
		t.Errorf("inputs not checked before predict")
	}
}

func classifyPairs(labels []string, c int) []any {
	p := inferencetest.Probs(len(labels), c)
	out := make([]any, len(labels))
	for i, l := range labels {
		out[i] = []any{l, p[i]}
	}
	return out
}

// TestMalformed sends bad requests through a real listener: each gets its
// status and a message that says what is wrong.
func TestMalformed(t *testing.T) {
	cat, _ := inferencetest.NewCatalog()
	srv := httptest.NewServer(NewHandler(cat, Options{MaxBodyBytes: 8 << 10, MaxBatch: 3}))
	defer srv.Close()
	big := `{"instances": ["` + strings.Repeat("a", 9<<10) + `"]}`
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"empty body", "POST", "/v1/models/mnist:predict", ``, 400, "The document is empty"},
		{"not JSON", "POST", "/v1/models/mnist:predict", `instances`, 400, "JSON Parse error"},
		{"truncated", "POST", "/v1/models/mnist:predict", `{"instances": [1,`, 400, "truncated"},
		{"trailing", "POST", "/v1/models/mnist:predict", `{"instances": [1]}}`, 400, "must not be followed by other values"},
		{"not an object", "POST", "/v1/models/mnist:predict", `[1, 2]`, 400, "Is not object"},
		{"NaN", "POST", "/v1/models/mnist:predict", `{"instances": [[NaN]]}`, 400, "NaN and Infinity are not accepted"},
		{"Infinity", "POST", "/v1/models/mnist:predict", `{"inputs": [Infinity]}`, 400, "NaN and Infinity are not accepted"},
		{"-Infinity", "POST", "/v1/models/mnist:predict", `{"inputs": [-Infinity]}`, 400, "-Infinity at offset"},
		{"float32 overflow", "POST", "/v1/models/reg:predict", `{"instances": [[1e39, 1]]}`, 400, "outside the finite range of DT_FLOAT"},
		{"both keys", "POST", "/v1/models/mnist:predict", `{"instances": [1], "inputs": [1]}`, 400, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"},
		{"neither key", "POST", "/v1/models/mnist:predict", `{"signature_name": ""}`, 400, "Missing 'inputs' or 'instances' key"},
		{"instances not a list", "POST", "/v1/models/mnist:predict", `{"instances": 3}`, 400, "Excepting 'instances' to be an list/array"},
		{"instances empty", "POST", "/v1/models/mnist:predict", `{"instances": []}`, 400, "No values in 'instances' array"},
		{"signature not a string", "POST", "/v1/models/mnist:predict", `{"signature_name": 100, "instances": [1]}`, 400, "'signature_name' key must be a string value."},
		{"other signature", "POST", "/v1/models/mnist:predict", `{"signature_name": "predict_images", "instances": [1]}`, 400, `Serving signature name: "predict_images" not found in signature def`},
		{"bad base64", "POST", "/v1/models/sentiment:predict", `{"instances": [{"b64": "%%%"}]}`, 400, "Unable to base64 decode"},
		{"b64 not UTF-8", "POST", "/v1/models/sentiment:predict", `{"instances": [{"b64": "/w=="}]}`, 400, "not UTF-8 text"},
		{"b64 for image", "POST", "/v1/models/mnist:predict", `{"instances": [{"b64": "AAAA"}]}`, 400, "binary ({\"b64\": …}) values are for text models"},
		{"wrong shape", "POST", "/v1/models/mnist:predict", `{"instances": [[1, 2, 3]]}`, 400, "shape [3], want [28,28] or [784]"},
		{"ragged", "POST", "/v1/models/mnist:predict", `{"instances": [[[1, 2], [3]]]}`, 400, "Encountered list at unexpected size: 1 at level: 1 expected size: 2"},
		{"string for image", "POST", "/v1/models/reg:predict", `{"instances": [["a", 1]]}`, 400, `JSON Value: "a" Type: String is not of expected type: DT_FLOAT`},
		{"scalar for image", "POST", "/v1/models/reg:predict", `{"instances": [3]}`, 400, "is not a list of numbers; this model takes shape [2]"},
		{"number for text", "POST", "/v1/models/sentiment:predict", `{"instances": [3]}`, 400, "JSON Value: 3 Type: Number is not of expected type: DT_STRING"},
		{"null for text", "POST", "/v1/models/sentiment:predict", `{"instances": [null]}`, 400, "Type: Null is not of expected type: DT_STRING"},
		{"mixed objects", "POST", "/v1/models/sentiment:predict", `{"instances": [{"text": "a"}, "b"]}`, 400, "Expecting object but got list at item 1"},
		{"mixed values", "POST", "/v1/models/sentiment:predict", `{"instances": ["b", {"text": "a"}]}`, 400, "Expecting value/list but got object at item 1"},
		{"wrong input name", "POST", "/v1/models/sentiment:predict", `{"instances": [{"txt": "a"}]}`, 400, "must only have keys: text"},
		{"inputs missing name", "POST", "/v1/models/sentiment:predict", `{"inputs": {}}`, 400, "Missing named input: text in 'inputs' object."},
		{"inputs unknown name", "POST", "/v1/models/sentiment:predict", `{"inputs": {"text": ["a"], "y": [1]}}`, 400, "Unknown named input: y"},
		{"inputs scalar", "POST", "/v1/models/sentiment:predict", `{"inputs": "a"}`, 400, "the batch dimension"},
		{"inputs wrong shape", "POST", "/v1/models/reg:predict", `{"inputs": [[1, 2, 3]]}`, 400, "'inputs' has shape [1,3], want [1,2]"},
		{"too many instances", "POST", "/v1/models/sentiment:predict", `{"instances": ["a", "b", "c", "d"]}`, 400, "4 instances in one request, at most 3"},
		{"body too large", "POST", "/v1/models/sentiment:predict", big, 413, "larger than 8192 bytes"},
		{"classify no examples", "POST", "/v1/models/mnist:classify", `{}`, 400, "When method is classify, key 'examples' is expected and was not found"},
		{"classify examples not a list", "POST", "/v1/models/mnist:classify", `{"examples": {}}`, 400, "Expecting 'examples' value to be an list/array"},
		{"classify examples empty", "POST", "/v1/models/mnist:classify", `{"examples": []}`, 400, "'examples' value is an empty array"},
		{"classify example not an object", "POST", "/v1/models/mnist:classify", `{"examples": [1]}`, 400, "Example must be JSON object but got JSON Number"},
		{"classify missing feature", "POST", "/v1/models/mnist:classify", `{"examples": [{"y": [1]}]}`, 400, `Example 0 has no feature "x"`},
		{"classify feature twice", "POST", "/v1/models/sentiment:classify", `{"context": {"text": "a"}, "examples": [{"text": "b"}]}`, 400, "appears in both 'context' and example 0"},
		{"classify nested feature", "POST", "/v1/models/reg:classify", `{"examples": [{"x": [[1, 2]]}]}`, 400, "unexpected JSON type: Array"},
		{"classify feature size", "POST", "/v1/models/reg:regress", `{"examples": [{"x": [1, 2, 3]}]}`, 400, "has 3 values, want 2"},
		{"classify texts", "POST", "/v1/models/sentiment:classify", `{"examples": [{"text": ["a", "b"]}]}`, 400, "has 2 values; a text model takes one text"},
		{"regress no examples", "POST", "/v1/models/reg:regress", `{"examples": 1}`, 400, "Expecting 'examples' value to be an list/array"},
		{"unknown verb", "POST", "/v1/models/mnist:explain", `{}`, 400, "Malformed request: POST /v1/models/mnist:explain"},
		{"bad path", "GET", "/v1/models/mnist/versions/x", ``, 400, "Malformed request: GET /v1/models/mnist/versions/x"},
		{"huge version", "GET", "/v1/models/mnist/versions/99999999999999999999", ``, 400, "Failed to convert version: 99999999999999999999 to numeric."},
		{"trailing slash", "GET", "/v1/models/mnist/", ``, 400, "Malformed request"},
		{"outside v1", "GET", "/v2/models/mnist", ``, 404, "Not found"},
		{"GET predict", "GET", "/v1/models/mnist:predict", ``, 405, "use POST"},
		{"POST status", "POST", "/v1/models/mnist", `{}`, 405, "use GET"},
		{"DELETE metadata", "DELETE", "/v1/models/mnist/metadata", ``, 405, "use GET"},
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
}

// TestDeadline checks that the request's context reaches Model.Predict: a
// deadline on it, or Options.Timeout, ends a prediction with 504.
func TestDeadline(t *testing.T) {
	cat, _ := inferencetest.NewCatalog()
	body := `{"instances": ["a"]}`

	h := NewHandler(cat, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest("POST", "/v1/models/slow:predict", strings.NewReader(body)).WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "deadline") {
		t.Fatalf("request deadline: %d %s", rec.Code, rec.Body)
	}

	srv := httptest.NewServer(NewHandler(cat, Options{Timeout: 20 * time.Millisecond}))
	defer srv.Close()
	st, _, got := do(t, srv, "POST", "/v1/models/slow:predict", body)
	if st != http.StatusGatewayTimeout {
		t.Fatalf("Options.Timeout: %d %v", st, got)
	}
}

// TestRouteParse covers the path grammar.
func TestRouteParse(t *testing.T) {
	cases := []struct {
		path string
		want route
		ok   bool
	}{
		{"/v1/models/m", route{model: "m"}, true},
		{"/v1/models/m/metadata", route{model: "m", metadata: true}, true},
		{"/v1/models/m/versions/12/metadata", route{model: "m", hasVersion: true, version: 12, metadata: true}, true},
		{"/v1/models/m/labels/stable", route{model: "m", label: "stable"}, true},
		{"/v1/models/m/labels/a%2Fb:classify", route{model: "m", label: "a/b", verb: "classify"}, true},
		{"/v1/models/my%20model:Predict", route{model: "my model", verb: "predict"}, true},
		{"/v1/models/m%3Ax:predict", route{model: "m:x", verb: "predict"}, true},
		{"/v1/models/metadata", route{model: "metadata"}, true},
		{"/v1/models/m/versions/1/labels/x", route{}, false},
		{"/v1/models/m:predict/metadata", route{}, false},
		{"/v1/models/m/metadata:predict", route{}, false},
		{"/v1/models/m/versions/-1", route{}, false},
		{"/v1/models/m/labels/", route{}, false},
		{"/v1/modelsx", route{}, false},
		{"/v1/models/:predict", route{}, false},
	}
	for _, c := range cases {
		got, ok, err := parseRoute(c.path)
		if err != nil || ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: %+v %v %v, want %+v %v", c.path, got, ok, err, c.want, c.ok)
		}
	}
}
