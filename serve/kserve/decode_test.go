package kserve

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/serve/inference/inferencetest"
)

func TestDecodeInferRequest(t *testing.T) {
	got, err := DecodeInferRequest([]byte(`{
		"id": "42", "parameters": {"a": "b", "n": 1.5, "t": true}, "x-ext": [1],
		"inputs": [
			{"name": "f", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2.5], [-3e2, 0]]},
			{"name": "d", "shape": [1], "datatype": "FP64", "data": [1e300]},
			{"name": "i", "shape": [3], "datatype": "INT32", "data": [1, -2, 3.0]},
			{"name": "u", "shape": [1], "datatype": "UINT64", "data": [18446744073709551615]},
			{"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]},
			{"name": "s", "shape": [1, 1], "datatype": "BYTES", "data": [["héllo"]], "parameters": {}},
			{"name": "z", "shape": [0, 3], "datatype": "INT8", "data": []}
		],
		"outputs": [{"name": "o", "parameters": {"binary_data": false}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := InferRequest{
		ID:         "42",
		Parameters: Parameters{"a": "b", "n": json.Number("1.5"), "t": true},
		Inputs: []RequestInput{
			{Name: "f", Shape: []int{2, 2}, Datatype: "FP32", Data: []float32{1, 2.5, -300, 0}},
			{Name: "d", Shape: []int{1}, Datatype: "FP64", Data: []float64{1e300}},
			{Name: "i", Shape: []int{3}, Datatype: "INT32", Data: []int64{1, -2, 3}},
			{Name: "u", Shape: []int{1}, Datatype: "UINT64", Data: []uint64{18446744073709551615}},
			{Name: "b", Shape: []int{2}, Datatype: "BOOL", Data: []bool{true, false}},
			{Name: "s", Shape: []int{1, 1}, Datatype: "BYTES", Data: []string{"héllo"}},
			{Name: "z", Shape: []int{0, 3}, Datatype: "INT8", Data: []int64{}},
		},
		Outputs: []RequestOutput{{Name: "o", Parameters: Parameters{"binary_data": false}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	enc, err := EncodeInferRequest(got)
	if err != nil {
		t.Fatal(err)
	}
	again, err := DecodeInferRequest(enc)
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("round trip %s: %v\n%#v", enc, err, again)
	}
}

func TestDecodeInferRequestErrors(t *testing.T) {
	tensor := func(fields string) string { return `{"inputs": [{` + fields + `}]}` }
	cases := []struct{ name, body, want string }{
		{"empty", ``, "request body is empty"},
		{"blank", "\n ", "request body is empty"},
		{"number", `1`, "must be a JSON object, not a number"},
		{"syntax", `{"inputs": [}`, "malformed JSON at byte"},
		{"nan lower case", `{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [nan]}]}`, "nan at byte"},
		{"inf", `{"inputs": [{"data": [inf]}]}`, "NaN and Infinity are not accepted"},
		{"trailing", `{"inputs": []} x`, "trailing data"},
		{"id list", `{"id": [], "inputs": []}`, `"id" must be a string, not a list`},
		{"parameters list", `{"parameters": [], "inputs": []}`, "parameters of the request must be an object, not a list"},
		{"parameter null", `{"parameters": {"a": null}, "inputs": []}`, `parameter "a" of the request is null`},
		{"outputs object", `{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [true]}], "outputs": {}}`, `"outputs" must be a list, not an object`},
		{"output not object", `{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [true]}], "outputs": ["o"]}`, "outputs[0] must be an object, not a string"},
		{"output parameter object", `{"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [true]}], "outputs": [{"name": "o", "parameters": {"p": {}}}]}`, `parameter "p" of the output "o" is an object`},
		{"empty name", tensor(`"name": "", "shape": [1], "datatype": "BOOL", "data": [true]`), `"name" must be a non-empty string`},
		{"shape string", tensor(`"name": "x", "shape": "1", "datatype": "BOOL", "data": [true]`), `"shape" must be a list of integers, not a string`},
		{"datatype number", tensor(`"name": "x", "shape": [1], "datatype": 1, "data": [true]`), `"datatype" must be a string, not a number`},
		{"BF16", tensor(`"name": "x", "shape": [1], "datatype": "BF16", "data": [1]`), "datatype BF16 has no JSON form"},
		{"data scalar", tensor(`"name": "x", "shape": [], "datatype": "INT64", "data": 1`), `"data" must be a list, not a number`},
		{"data mixed nesting", tensor(`"name": "x", "shape": [2], "datatype": "INT64", "data": [1, [2]]`), "nests deeper than shape [2]"},
		{"data value where a list is due", tensor(`"name": "x", "shape": [2, 1], "datatype": "INT64", "data": [[1], 2]`), "a value at depth 1"},
		{"bool for INT64", tensor(`"name": "x", "shape": [1], "datatype": "INT64", "data": [true]`), "true is a boolean, not an integer"},
		{"number for BOOL", tensor(`"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]`), "1 is a number, not a boolean"},
		{"INT64 overflow", tensor(`"name": "x", "shape": [1], "datatype": "INT64", "data": [9223372036854775808]`), "not an integer in the range of INT64"},
		{"UINT64 negative", tensor(`"name": "x", "shape": [1], "datatype": "UINT64", "data": [-1]`), "not an integer in the range of UINT64"},
		{"FP64 overflow", tensor(`"name": "x", "shape": [1], "datatype": "FP64", "data": [1e400]`), "outside the finite range of FP64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeInferRequest([]byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if statusOf(err) != 400 {
				t.Fatalf("status %d", statusOf(err))
			}
		})
	}
}

// FuzzDecodeV2Infer checks that the /infer decoder never panics, that
// what it accepts it encodes into a body it reads back the same, and that
// turning an accepted request into model inputs never panics either.
func FuzzDecodeV2Infer(f *testing.F) {
	for _, s := range []string{
		`{"id": "42", "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`,
		`{"inputs": [{"name": "x", "shape": [1, 2, 2], "datatype": "INT64", "data": [[[1, 2], [3, 4]]]}], "outputs": [{"name": "class"}]}`,
		`{"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]}], "parameters": {"p": true}}`,
		`{"inputs": [{"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]}, {"name": "u", "shape": [1], "datatype": "UINT8", "data": [255]}]}`,
		`{"inputs": [{"name": "d", "shape": [0], "datatype": "FP64", "data": []}]}`,
		`{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [NaN]}]}`,
		`{"inputs": []}`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	text := inferencetest.TextSignature()
	img := inferencetest.MNISTSignature()
	img.InputShape, img.InputSize = []int{2, 2}, 4
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeInferRequest(body)
		if err != nil {
			if statusOf(err) != 400 {
				t.Fatalf("decode error with status %d: %v", statusOf(err), err)
			}
			return
		}
		enc, err := EncodeInferRequest(req)
		if err != nil {
			t.Fatalf("encode %#v: %v", req, err)
		}
		again, err := DecodeInferRequest(enc)
		if err != nil {
			t.Fatalf("decode of own encoding %s: %v", enc, err)
		}
		if !reflect.DeepEqual(req, again) {
			t.Fatalf("round trip changed the request:\n%#v\n%#v", req, again)
		}
		_, _ = modelInputs(req.Inputs, text, 8)
		_, _ = modelInputs(req.Inputs, img, 8)
		_, _ = requestedOutputs(req.Outputs)
	})
}
