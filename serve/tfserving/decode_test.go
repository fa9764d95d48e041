package tfserving

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/inference/inferencetest"
)

func TestDecodePredictRequest(t *testing.T) {
	cases := []struct {
		name, body string
		want       PredictRequest
		err        string // substring of the error, "" for success
	}{
		{"instances", `{"instances": ["a", {"b64": "aGk="}]}`,
			PredictRequest{Instances: []Value{"a", Bytes("hi")}}, ""},
		{"inputs with signature", `{"signature_name": "serving_default", "inputs": {"x": [[1, 2.5e0]]}}`,
			PredictRequest{SignatureName: "serving_default", Columnar: true, Inputs: map[string]any{"x": []any{[]any{json.Number("1"), json.Number("2.5e0")}}}}, ""},
		{"inputs null", `{"inputs": null}`, PredictRequest{Columnar: true}, ""},
		{"b64 unpadded url alphabet", `{"instances": [{"b64": "-_8"}]}`, PredictRequest{Instances: []Value{Bytes{0xfb, 0xff}}}, ""},
		{"b64 with another key is an object", `{"instances": [{"b64": "aGk=", "k": 1}]}`,
			PredictRequest{Instances: []Value{map[string]any{"b64": "aGk=", "k": json.Number("1")}}}, ""},
		{"unknown keys", `{"instances": [1], "x": {"y": NaN0}}`, PredictRequest{}, "JSON Parse error"},
		{"empty", ``, PredictRequest{}, "The document is empty"},
		{"blank", " \n\t", PredictRequest{}, "The document is empty"},
		{"array", `[]`, PredictRequest{}, "Is not object"},
		{"string", `"x"`, PredictRequest{}, "Is not object"},
		{"trailing", `{"instances": [1]} {}`, PredictRequest{}, "must not be followed"},
		{"truncated", `{"instances": [`, PredictRequest{}, "truncated"},
		{"NaN", `{"instances": [NaN]}`, PredictRequest{}, "NaN at offset: 15"},
		{"nan", `{"instances": [nan]}`, PredictRequest{}, "NaN and Infinity are not accepted"},
		{"Infinity", `{"instances": [Infinity]}`, PredictRequest{}, "Infinity at offset"},
		{"-Infinity", `{"instances": [1, -Infinity]}`, PredictRequest{}, "-Infinity at offset"},
		{"syntax", `{"instances": [1,]}`, PredictRequest{}, "JSON Parse error: invalid character"},
		{"both", `{"instances": [1], "inputs": [1]}`, PredictRequest{}, "expecting only one of 'inputs' or 'instances'"},
		{"neither", `{}`, PredictRequest{}, "Missing 'inputs' or 'instances' key"},
		{"instances object", `{"instances": {"x": 1}}`, PredictRequest{}, "Excepting 'instances' to be an list/array"},
		{"instances null", `{"instances": null}`, PredictRequest{}, "Excepting 'instances' to be an list/array"},
		{"instances empty", `{"instances": []}`, PredictRequest{}, "No values in 'instances' array"},
		{"signature number", `{"signature_name": 1, "instances": [1]}`, PredictRequest{}, "'signature_name' key must be a string value."},
		{"bad b64", `{"instances": [[{"b64": "a"}]]}`, PredictRequest{}, "Unable to base64 decode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodePredictRequest([]byte(c.body))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want it to contain %q", err, c.err)
				}
				if statusOf(err) != 400 {
					t.Fatalf("status %d", statusOf(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestDecodeClassifyRequest(t *testing.T) {
	got, err := DecodeClassifyRequest([]byte(`{"signature_name": "", "context": {"a": 1}, "examples": [{"x": [1, {"b64": "aGk="}]}], "more": true}`), "classify")
	if err != nil {
		t.Fatal(err)
	}
	want := ClassifyRequest{Context: map[string]Value{"a": json.Number("1")}, Examples: []map[string]Value{{"x": []any{json.Number("1"), Bytes("hi")}}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	for body, msg := range map[string]string{
		`{"examples": [1]}`:                 "Example must be JSON object but got JSON Number",
		`{"context": [], "examples": [{}]}`: "Example must be JSON object but got JSON Array",
		`{"examples": []}`:                  "'examples' value is an empty array",
		`{}`:                                "When method is regress, key 'examples' is expected",
		`{"examples": "x"}`:                 "Expecting 'examples' value to be an list/array",
		`{"signature_name": [], "examples": [{}]}`: "'signature_name' key must be a string value.",
	} {
		if _, err := DecodeClassifyRequest([]byte(body), "regress"); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: err = %v, want %q", body, err, msg)
		}
	}
}

// FuzzDecodeV1Predict checks that the :predict decoder never panics, that
// what it accepts it encodes into a body it reads back the same, and that
// turning an accepted request into model inputs never panics either.
func FuzzDecodeV1Predict(f *testing.F) {
	for _, s := range []string{
		`{"instances": ["foo", "bar"]}`,
		`{"instances": [[[1, 2]], [[3, 4]]]}`,
		`{"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}`,
		`{"inputs": {"text": ["a", {"b64": "aGk="}]}}`,
		`{"inputs": [[1.5, -2e3]], "signature_name": "serving_default"}`,
		`{"instances": [{"b64": ""}], "inputs": 1}`,
		`{"instances": [NaN]}`,
		`{"instances": []}`,
		`{"inputs": null}`,
		`[`,
	} {
		f.Add([]byte(s))
	}
	text := inferencetest.TextSignature()
	img := inference.Signature{Kind: inference.KindImage, InputShape: []int{2, 2}, InputSize: 4, Labels: inferencetest.Digits}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodePredictRequest(body)
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("decode error with status %d: %v", statusOf(err), err)
			}
			return
		}
		enc, err := EncodePredictRequest(req)
		if err != nil {
			t.Fatalf("encode %#v: %v", req, err)
		}
		again, err := DecodePredictRequest(enc)
		if err != nil {
			t.Fatalf("decode of own encoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", req, again)
		}
		if req.Columnar {
			_, _ = columnarInputs(req.Inputs, text, 8)
			_, _ = columnarInputs(req.Inputs, img, 8)
		} else {
			_, _ = rowInputs(req.Instances, text, 8)
			_, _ = rowInputs(req.Instances, img, 8)
		}
	})
}
