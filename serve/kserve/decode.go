package kserve

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// Parameters are the "parameters" of a request, an input or an output:
// each value a string, a json.Number or a bool.
type Parameters map[string]any

// InferRequest is a decoded /infer body.
type InferRequest struct {
	// ID is "id", echoed in the answer; "" when absent.
	ID         string          `json:"id,omitempty"`
	Parameters Parameters      `json:"parameters,omitempty"`
	Inputs     []RequestInput  `json:"inputs"`
	Outputs    []RequestOutput `json:"outputs,omitempty"`
}

// RequestInput is one input tensor. Data holds its elements flattened in
// row-major order, typed by Datatype: []bool (BOOL), []int64 (INT8,
// INT16, INT32, INT64, UINT8, UINT16, UINT32), []uint64 (UINT64),
// []float32 (FP32), []float64 (FP64) or []string (BYTES).
type RequestInput struct {
	Name       string     `json:"name"`
	Shape      []int      `json:"shape"`
	Datatype   string     `json:"datatype"`
	Parameters Parameters `json:"parameters,omitempty"`
	Data       any        `json:"data"`
}

// RequestOutput names an output the client wants.
type RequestOutput struct {
	Name       string     `json:"name"`
	Parameters Parameters `json:"parameters,omitempty"`
}

// Tensor data types of the protocol.
const (
	TypeBool   = "BOOL"
	TypeUint8  = "UINT8"
	TypeUint16 = "UINT16"
	TypeUint32 = "UINT32"
	TypeUint64 = "UINT64"
	TypeInt8   = "INT8"
	TypeInt16  = "INT16"
	TypeInt32  = "INT32"
	TypeInt64  = "INT64"
	TypeFP16   = "FP16"
	TypeFP32   = "FP32"
	TypeFP64   = "FP64"
	TypeBytes  = "BYTES"
)

// intRange is the range of each integer type but UINT64.
var intRange = map[string][2]int64{
	TypeInt8:   {math.MinInt8, math.MaxInt8},
	TypeInt16:  {math.MinInt16, math.MaxInt16},
	TypeInt32:  {math.MinInt32, math.MaxInt32},
	TypeInt64:  {math.MinInt64, math.MaxInt64},
	TypeUint8:  {0, math.MaxUint8},
	TypeUint16: {0, math.MaxUint16},
	TypeUint32: {0, math.MaxUint32},
}

// DecodeInferRequest decodes an /infer body, strictly where the protocol
// is: a JSON object whose "inputs" is a non-empty list of tensors, each
// with a name (unique), a shape of non-negative integers, a known
// datatype and "data" whose elements match both (flat, or nested exactly
// as the shape); "id" a string; "parameters" objects of strings, numbers
// and booleans; "outputs" a list of uniquely named objects. Unknown
// fields are ignored, as extensions may add them, and null stands for an
// absent optional field. NaN and Infinity are
// refused, as are FP16/BF16 (JSON has no form for them) and the binary
// data extension.
func DecodeInferRequest(body []byte) (InferRequest, error) {
	var req InferRequest
	doc, err := parseObject(body)
	if err != nil {
		return req, err
	}
	if v, ok := doc["id"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return req, badRequest(`"id" must be a string, not %s`, jsonType(v))
		}
		req.ID = s
	}
	if req.Parameters, err = parameters(doc, "request"); err != nil {
		return req, err
	}
	raw, ok := doc["inputs"]
	if !ok {
		return req, badRequest(`"inputs" is required`)
	}
	list, ok := raw.([]any)
	if !ok {
		return req, badRequest(`"inputs" must be a list of tensors, not %s`, jsonType(raw))
	}
	if len(list) == 0 {
		return req, badRequest(`"inputs" is empty`)
	}
	seen := map[string]bool{}
	req.Inputs = make([]RequestInput, len(list))
	for i, e := range list {
		in, err := requestInput(e)
		if err != nil {
			return req, badRequest("inputs[%d]: %v", i, err)
		}
		if seen[in.Name] {
			return req, badRequest("inputs[%d]: input %q given twice", i, in.Name)
		}
		seen[in.Name] = true
		req.Inputs[i] = in
	}
	if raw, ok := doc["outputs"]; ok && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return req, badRequest(`"outputs" must be a list, not %s`, jsonType(raw))
		}
		seen := map[string]bool{}
		for i, e := range list {
			o, ok := e.(map[string]any)
			if !ok {
				return req, badRequest("outputs[%d] must be an object, not %s", i, jsonType(e))
			}
			name, err := nameOf(o)
			if err != nil {
				return req, badRequest("outputs[%d]: %v", i, err)
			}
			if seen[name] {
				return req, badRequest("outputs[%d]: output %q requested twice", i, name)
			}
			seen[name] = true
			p, err := parameters(o, "output "+strconv.Quote(name))
			if err != nil {
				return req, badRequest("outputs[%d]: %v", i, err)
			}
			req.Outputs = append(req.Outputs, RequestOutput{Name: name, Parameters: p})
		}
	}
	return req, nil
}

// EncodeInferRequest writes req as an /infer body that DecodeInferRequest
// reads back as req.
func EncodeInferRequest(req InferRequest) ([]byte, error) { return json.Marshal(req) }

func nameOf(o map[string]any) (string, error) {
	v, ok := o["name"]
	if !ok {
		return "", badRequest(`"name" is required`)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", badRequest(`"name" must be a non-empty string`)
	}
	return s, nil
}

// parameters reads the optional "parameters" of o; nil when absent or
// empty.
func parameters(o map[string]any, of string) (Parameters, error) {
	raw, ok := o["parameters"]
	if !ok || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, badRequest("parameters of the %s must be an object, not %s", of, jsonType(raw))
	}
	if len(m) == 0 {
		return nil, nil
	}
	for k, v := range m {
		switch v.(type) {
		case string, json.Number, bool:
		default:
			return nil, badRequest("parameter %q of the %s is %s; a parameter is a string, number or boolean", k, of, jsonType(v))
		}
	}
	return Parameters(m), nil
}

// requestInput reads one input tensor.
func requestInput(e any) (RequestInput, error) {
	var in RequestInput
	o, ok := e.(map[string]any)
	if !ok {
		return in, badRequest("a tensor must be an object, not %s", jsonType(e))
	}
	var err error
	if in.Name, err = nameOf(o); err != nil {
		return in, err
	}
	if in.Parameters, err = parameters(o, "input "+strconv.Quote(in.Name)); err != nil {
		return in, err
	}
	if _, ok := in.Parameters["binary_data_size"]; ok {
		return in, badRequest("input %q: the binary tensor data extension is not supported; send \"data\" as JSON", in.Name)
	}
	rawShape, ok := o["shape"]
	if !ok {
		return in, badRequest("input %q: \"shape\" is required", in.Name)
	}
	shapeList, ok := rawShape.([]any)
	if !ok {
		return in, badRequest("input %q: \"shape\" must be a list of integers, not %s", in.Name, jsonType(rawShape))
	}
	in.Shape = make([]int, len(shapeList))
	elems := 1
	for i, d := range shapeList {
		n, ok := d.(json.Number)
		v, err := strconv.ParseInt(string(n), 10, 64)
		if !ok || err != nil || v < 0 {
			return in, badRequest("input %q: shape[%d] is %s; a dimension is an integer >= 0", in.Name, i, show(d))
		}
		if v > math.MaxInt32 || (v > 0 && elems > math.MaxInt32/int(v)) {
			return in, badRequest("input %q: shape %s holds too many elements", in.Name, show(rawShape))
		}
		in.Shape[i] = int(v)
		elems *= int(v)
	}
	dt, ok := o["datatype"]
	if !ok {
		return in, badRequest("input %q: \"datatype\" is required", in.Name)
	}
	in.Datatype, ok = dt.(string)
	if !ok {
		return in, badRequest("input %q: \"datatype\" must be a string, not %s", in.Name, jsonType(dt))
	}
	switch in.Datatype {
	case TypeBool, TypeUint64, TypeFP32, TypeFP64, TypeBytes:
	case TypeFP16, "BF16":
		return in, badRequest("input %q: datatype %s has no JSON form; send FP32", in.Name, in.Datatype)
	default:
		if _, ok := intRange[in.Datatype]; !ok {
			return in, badRequest("input %q: unknown datatype %q (datatypes are upper case: FP32, INT64, BYTES, …)", in.Name, in.Datatype)
		}
	}
	rawData, ok := o["data"]
	if !ok {
		return in, badRequest("input %q: \"data\" is required", in.Name)
	}
	data, ok := rawData.([]any)
	if !ok {
		return in, badRequest("input %q: \"data\" must be a list, not %s", in.Name, jsonType(rawData))
	}
	flat, err := flatten(data, in.Shape, elems)
	if err != nil {
		return in, badRequest("input %q: %v", in.Name, err)
	}
	if in.Data, err = typed(flat, in.Datatype); err != nil {
		return in, badRequest("input %q: %v", in.Name, err)
	}
	return in, nil
}

// flatten returns the elements of data in row-major order. Flat data must
// hold elems elements; nested data must nest exactly as shape.
func flatten(data []any, shape []int, elems int) ([]any, error) {
	nested := false
	for _, e := range data {
		if _, ok := e.([]any); ok {
			nested = true
			break
		}
	}
	if !nested {
		if len(data) != elems {
			return nil, badRequest("shape %s holds %d elements, \"data\" has %d", shapeString(shape), elems, len(data))
		}
		return data, nil
	}
	flat := make([]any, 0, min(elems, 1<<12)) // elems is only claimed
	var walk func(v any, level int) error
	walk = func(v any, level int) error {
		list, isList := v.([]any)
		switch {
		case level == len(shape):
			if isList {
				return badRequest("\"data\" nests deeper than shape %s", shapeString(shape))
			}
			flat = append(flat, v)
			return nil
		case !isList:
			return badRequest("\"data\" has a value at depth %d, where shape %s wants a list", level, shapeString(shape))
		case len(list) != shape[level]:
			return badRequest("\"data\" has a list of %d at depth %d, where shape %s wants %d", len(list), level, shapeString(shape), shape[level])
		}
		for _, e := range list {
			if err := walk(e, level+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(data, 0); err != nil {
		return nil, err
	}
	return flat, nil
}

// typed converts the flat elements to datatype's Go slice.
func typed(flat []any, datatype string) (any, error) {
	switch datatype {
	case TypeBool:
		out := make([]bool, len(flat))
		for i, e := range flat {
			b, ok := e.(bool)
			if !ok {
				return nil, elemError(i, e, datatype, "a boolean")
			}
			out[i] = b
		}
		return out, nil
	case TypeBytes:
		out := make([]string, len(flat))
		for i, e := range flat {
			s, ok := e.(string)
			if !ok {
				return nil, elemError(i, e, datatype, "a string")
			}
			out[i] = s
		}
		return out, nil
	case TypeFP32, TypeFP64:
		limit := math.MaxFloat64
		if datatype == TypeFP32 {
			limit = math.MaxFloat32
		}
		f32 := make([]float32, 0, len(flat))
		f64 := make([]float64, 0, len(flat))
		for i, e := range flat {
			n, ok := e.(json.Number)
			if !ok {
				return nil, elemError(i, e, datatype, "a number")
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil || math.IsInf(f, 0) || math.Abs(f) > limit {
				return nil, badRequest("data element %d: %s is outside the finite range of %s; values must be finite", i, n, datatype)
			}
			if datatype == TypeFP32 {
				f32 = append(f32, float32(f))
			} else {
				f64 = append(f64, f)
			}
		}
		if datatype == TypeFP32 {
			return f32, nil
		}
		return f64, nil
	case TypeUint64:
		out := make([]uint64, len(flat))
		for i, e := range flat {
			n, ok := e.(json.Number)
			if !ok {
				return nil, elemError(i, e, datatype, "an integer")
			}
			v, err := strconv.ParseUint(string(n), 10, 64)
			if err != nil {
				f, ferr := integral(n)
				if ferr != nil || f < 0 {
					return nil, badRequest("data element %d: %s is not an integer in the range of %s", i, n, datatype)
				}
				v = uint64(f)
			}
			out[i] = v
		}
		return out, nil
	default:
		r := intRange[datatype]
		out := make([]int64, len(flat))
		for i, e := range flat {
			n, ok := e.(json.Number)
			if !ok {
				return nil, elemError(i, e, datatype, "an integer")
			}
			v, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				f, ferr := integral(n)
				if ferr != nil {
					return nil, badRequest("data element %d: %s is not an integer in the range of %s", i, n, datatype)
				}
				v = f
			}
			if v < r[0] || v > r[1] {
				return nil, badRequest("data element %d: %s is not an integer in the range of %s", i, n, datatype)
			}
			out[i] = v
		}
		return out, nil
	}
}

// integral reads a number written with a fraction or exponent ("3.0",
// "1e2") that is a whole number exactly representable in float64.
func integral(n json.Number) (int64, error) {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, errors.New("not an integer")
	}
	return int64(f), nil
}

func elemError(i int, e any, datatype, want string) error {
	return badRequest("data element %d: %s is %s, not %s as datatype %s needs", i, show(e), jsonType(e), want, datatype)
}

// parseObject decodes body as one JSON object, numbers kept as
// json.Number; NaN and Infinity get a message that names them.
func parseObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("request body is empty; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			if tok, at, ok := nonFiniteAt(body, se.Offset); ok {
				return nil, badRequest("malformed JSON: %s at byte %d: NaN and Infinity are not accepted; values must be finite numbers", tok, at)
			}
			return nil, badRequest("malformed JSON at byte %d: %v", se.Offset, se)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, badRequest("malformed JSON: truncated")
		default:
			return nil, badRequest("malformed JSON: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("malformed JSON: trailing data after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("request body must be a JSON object, not %s", jsonType(v))
	}
	return obj, nil
}

// nonFiniteAt reports whether the syntax error that stopped after offset
// bytes of body lies in a NaN or Infinity token (any case; "nan" stops the
// decoder at its 'a', as it reads "null"), and where the token starts.
func nonFiniteAt(body []byte, offset int64) (tok string, start int, ok bool) {
	i := int(offset) - 1
	if i < 0 || i >= len(body) {
		return "", 0, false
	}
	for i > 0 && isLetter(body[i-1]) {
		i--
	}
	end := i
	for end < len(body) && isLetter(body[end]) {
		end++
	}
	word := string(body[i:end])
	switch strings.ToLower(word) {
	case "nan", "inf", "infinity":
		if i > 0 && body[i-1] == '-' {
			return "-" + word, i - 1, true
		}
		return word, i, true
	}
	return "", 0, false
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// jsonType names v's JSON type for messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	default:
		return "a value"
	}
}

// show is the start of v's JSON text for a message.
func show(v any) string {
	b, _ := json.Marshal(v)
	const n = 60
	if len(b) > n {
		return string(bytes.ToValidUTF8(b[:n], nil)) + "…"
	}
	return string(b)
}

// shapeString writes a shape as [2,784].
func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
