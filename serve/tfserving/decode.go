package tfserving

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shoalmesh/shoal/engine/clip"
)

// Value is one decoded JSON value of a request's tensors or features: nil,
// bool, string, json.Number (numbers keep their text), Bytes (a
// {"b64": "…"} object), []Value or map[string]Value (named inputs).
type Value = any

// Bytes is a binary value, written {"b64": "<base64>"} on the wire.
type Bytes []byte

// MarshalJSON writes b as {"b64": "<standard base64>"}.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"b64": base64.StdEncoding.EncodeToString(b)})
}

// PredictRequest is a decoded :predict body. Exactly one of the row form
// ("instances") and the columnar form ("inputs") is set.
type PredictRequest struct {
	// SignatureName is "signature_name", "" when absent.
	SignatureName string
	// Columnar says the body used "inputs" (answered with "outputs");
	// otherwise it used "instances" (answered with "predictions").
	Columnar bool
	// Instances is the row form: one Value per instance, at least one.
	Instances []Value
	// Inputs is the columnar form: a list (one entry per input), a Bytes,
	// or a map from input name to such a list.
	Inputs Value
}

// ClassifyRequest is a decoded :classify or :regress body.
type ClassifyRequest struct {
	// SignatureName is "signature_name", "" when absent.
	SignatureName string
	// Context holds features shared by every example; nil when absent.
	Context map[string]Value
	// Examples holds one feature map per example, at least one.
	Examples []map[string]Value
}

// Top-level keys of request bodies.
const (
	keySignature = "signature_name"
	keyInstances = "instances"
	keyInputs    = "inputs"
	keyExamples  = "examples"
	keyContext   = "context"
	keyB64       = "b64"
)

// DecodePredictRequest decodes a :predict body. It checks the body's
// structure as TF Serving does (one JSON object; a string signature_name;
// exactly one of "instances", a non-empty list, and "inputs") and decodes
// {"b64": …} values, but not the tensors' shapes or types, which depend
// on the model. Unknown top-level keys are ignored. Its errors are TF
// Serving's messages for the same faults.
func DecodePredictRequest(body []byte) (PredictRequest, error) {
	var req PredictRequest
	doc, err := parseObject(body)
	if err != nil {
		return req, err
	}
	if req.SignatureName, err = signatureOf(doc, body); err != nil {
		return req, err
	}
	inst, hasInst := doc[keyInstances]
	inputs, hasInputs := doc[keyInputs]
	switch {
	case hasInst && hasInputs:
		return req, badRequest("JSON Value: %s Not formatted correctly expecting only one of '%s' or '%s' keys to exist", snippet(body), keyInputs, keyInstances)
	case hasInst:
		list, ok := inst.([]any)
		if !ok {
			// "Excepting" is TF Serving's own spelling.
			return req, badRequest("JSON Value: %s Excepting '%s' to be an list/array", snippet(body), keyInstances)
		}
		if len(list) == 0 {
			return req, badRequest("JSON Value: %s No values in '%s' array", snippet(body), keyInstances)
		}
		req.Instances = make([]Value, len(list))
		for i, e := range list {
			if req.Instances[i], err = toValue(e); err != nil {
				return req, err
			}
		}
	case hasInputs:
		req.Columnar = true
		if req.Inputs, err = toValue(inputs); err != nil {
			return req, err
		}
	default:
		return req, badRequest("Missing '%s' or '%s' key", keyInputs, keyInstances)
	}
	return req, nil
}

// EncodePredictRequest writes req as a :predict body that
// DecodePredictRequest reads back as req.
func EncodePredictRequest(req PredictRequest) ([]byte, error) {
	doc := map[string]any{}
	if req.SignatureName != "" {
		doc[keySignature] = req.SignatureName
	}
	if req.Columnar {
		doc[keyInputs] = req.Inputs
	} else {
		doc[keyInstances] = req.Instances
	}
	return json.Marshal(doc)
}

// DecodeClassifyRequest decodes a :classify or :regress body (verb names
// which, for the messages): a JSON object with an optional string
// signature_name, an optional "context" feature map and a non-empty list
// of "examples", each a feature map.
func DecodeClassifyRequest(body []byte, verb string) (ClassifyRequest, error) {
	var req ClassifyRequest
	doc, err := parseObject(body)
	if err != nil {
		return req, err
	}
	if req.SignatureName, err = signatureOf(doc, body); err != nil {
		return req, err
	}
	if c, ok := doc[keyContext]; ok {
		if req.Context, err = featureMap(c); err != nil {
			return req, err
		}
	}
	ex, ok := doc[keyExamples]
	if !ok {
		return req, badRequest("JSON Value: %s When method is %s, key '%s' is expected and was not found", snippet(body), verb, keyExamples)
	}
	list, ok := ex.([]any)
	if !ok {
		return req, badRequest("JSON Value: %s Expecting '%s' value to be an list/array", snippet(body), keyExamples)
	}
	if len(list) == 0 {
		return req, badRequest("JSON Value: %s '%s' value is an empty array", snippet(body), keyExamples)
	}
	req.Examples = make([]map[string]Value, len(list))
	for i, e := range list {
		if req.Examples[i], err = featureMap(e); err != nil {
			return req, err
		}
	}
	return req, nil
}

// featureMap decodes one Example (or the context): a JSON object of
// features.
func featureMap(v any) (map[string]Value, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("Example must be JSON object but got JSON %s", jsonType(v))
	}
	out := make(map[string]Value, len(obj))
	for k, e := range obj {
		val, err := toValue(e)
		if err != nil {
			return nil, err
		}
		out[k] = val
	}
	return out, nil
}

// signatureOf reads the optional signature_name.
func signatureOf(doc map[string]any, body []byte) (string, error) {
	v, ok := doc[keySignature]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", badRequest("JSON Value: %s not formatted correctly. '%s' key must be a string value.", snippet(body), keySignature)
	}
	return s, nil
}

// parseObject decodes body as one JSON object, numbers kept as
// json.Number. NaN and Infinity, which TF Serving accepts but JSON does
// not, are refused with a message that says so.
func parseObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("JSON Parse error: The document is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, parseError(body, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("JSON Parse error: The document root must not be followed by other values at offset: %d", dec.InputOffset())
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("JSON Value: %s Is not object", snippet(body))
	}
	return obj, nil
}

// parseError words a JSON syntax error, naming NaN and Infinity when one
// of them is the cause.
func parseError(body []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		if tok, at, ok := nonFiniteAt(body, se.Offset); ok {
			return badRequest("JSON Parse error: %s at offset: %d: NaN and Infinity are not accepted; inputs must be finite numbers", tok, at)
		}
		return badRequest("JSON Parse error: %v at offset: %d", se, se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("JSON Parse error: The document is truncated")
	}
	return badRequest("JSON Parse error: %v", err)
}

// nonFiniteAt reports whether the syntax error that stopped after offset
// bytes of body lies in a NaN or Infinity token (any case; "nan" stops
// the decoder at its 'a', as it reads "null"), and where the token starts.
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

// toValue turns a decoded JSON value into a Value: {"b64": "…"} objects
// (one key, a string) become Bytes.
func toValue(v any) (Value, error) {
	switch t := v.(type) {
	case []any:
		for i, e := range t {
			ev, err := toValue(e)
			if err != nil {
				return nil, err
			}
			t[i] = ev
		}
		return t, nil
	case map[string]any:
		if s, ok := t[keyB64].(string); ok && len(t) == 1 {
			b, err := decodeBase64(s)
			if err != nil {
				return nil, badRequest("Unable to base64 decode: %v", err)
			}
			return Bytes(b), nil
		}
		for k, e := range t {
			ev, err := toValue(e)
			if err != nil {
				return nil, err
			}
			t[k] = ev
		}
		return t, nil
	default:
		return v, nil
	}
}

// decodeBase64 takes the standard or the URL alphabet, padded or not.
func decodeBase64(s string) ([]byte, error) {
	var first error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// snippet is the start of body for an error message.
func snippet(body []byte) string {
	const n = 80
	s := strings.TrimSpace(string(body))
	if len(s) <= n {
		return s
	}
	return clip.String(s, n) + "…"
}

// show is the start of v's JSON text for an error message.
func show(v Value) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return snippet(b)
}

// jsonType names v's JSON type the way TF Serving's messages do.
func jsonType(v Value) string {
	switch t := v.(type) {
	case nil:
		return "Null"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case string:
		return "String"
	case json.Number:
		return "Number"
	case []any:
		return "Array"
	case Bytes, map[string]any:
		return "Object"
	default:
		return fmt.Sprintf("%T", v)
	}
}
