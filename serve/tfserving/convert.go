package tfserving

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/serve/inference"
)

// Names of the signature: the one input (InputText for text models,
// InputImage for image models; also the feature key of :classify and
// :regress examples) and the outputs each prediction has.
const (
	SignatureName = "serving_default"
	InputText     = "text"
	InputImage    = "x"

	OutputClass         = "class"         // DT_INT64 [-1]: index of the best class
	OutputLabel         = "label"         // DT_STRING [-1]: its label
	OutputProbability   = "probability"   // DT_FLOAT [-1]: its probability
	OutputProbabilities = "probabilities" // DT_FLOAT [-1, classes]: every class's, in label order
)

// inputName is the name of the model's one input.
func inputName(sig inference.Signature) string {
	if sig.Kind == inference.KindText {
		return InputText
	}
	return InputImage
}

// imageShapes lists the shapes one image input may have: InputShape and,
// when it differs, the flat [InputSize].
func imageShapes(sig inference.Signature) [][]int {
	var shapes [][]int
	if len(sig.InputShape) > 0 {
		shapes = append(shapes, sig.InputShape)
	}
	if flat := []int{sig.InputSize}; len(shapes) == 0 || !slices.Equal(shapes[0], flat) {
		shapes = append(shapes, flat)
	}
	return shapes
}

// shapeString writes a shape as [28,28], as TF Serving's messages do.
func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func shapesString(shapes [][]int) string {
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = shapeString(s)
	}
	return strings.Join(parts, " or ")
}

// rowInputs turns the instances of a row-form request into model inputs.
// Instances are either all bare values or all objects keyed by the input
// name, as TF Serving requires.
func rowInputs(insts []Value, sig inference.Signature, maxBatch int) ([]inference.Input, error) {
	if len(insts) > maxBatch {
		return nil, badRequest("%d instances in one request, at most %d", len(insts), maxBatch)
	}
	name := inputName(sig)
	_, objects := insts[0].(map[string]any)
	out := make([]inference.Input, len(insts))
	for i, inst := range insts {
		obj, isObj := inst.(map[string]any)
		switch {
		case objects && !isObj:
			return nil, badRequest("Expecting object but got list at item %d of input list", i)
		case !objects && isObj:
			return nil, badRequest("Expecting value/list but got object at item %d of input list", i)
		case isObj:
			v, ok := obj[name]
			if !ok || len(obj) != 1 {
				return nil, badRequest("Failed to process element: %d of 'instances' list. JSON object: %s must only have keys: %s", i, show(inst), name)
			}
			inst = v
		}
		in, err := oneInput(inst, sig)
		if err != nil {
			return nil, badRequest("Failed to process element: %d of 'instances' list. Error: %v", i, err)
		}
		out[i] = in
	}
	return out, nil
}

// columnarInputs turns the "inputs" of a columnar request into model
// inputs: a list with one entry per input (the batch dimension is
// required), bare or under the input's name.
func columnarInputs(v Value, sig inference.Signature, maxBatch int) ([]inference.Input, error) {
	name := inputName(sig)
	if obj, ok := v.(map[string]any); ok {
		// In key order, so that the message is the same for the same body.
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if k != name {
				return nil, badRequest("Unknown named input: %s in 'inputs' object; this model takes only %q", k, name)
			}
		}
		t, ok := obj[name]
		if !ok {
			return nil, badRequest("Missing named input: %s in 'inputs' object.", name)
		}
		v = t
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, badRequest("'inputs' must be a non-empty list with one entry per input (the batch dimension); got JSON %s: %s", jsonType(v), show(v))
	}
	if len(list) > maxBatch {
		return nil, badRequest("%d inputs in one request, at most %d", len(list), maxBatch)
	}
	out := make([]inference.Input, len(list))
	if sig.Kind == inference.KindText {
		for i, e := range list {
			s, err := textValue(e)
			if err != nil {
				return nil, badRequest("'inputs' entry %d: %v", i, err)
			}
			out[i] = s
		}
		return out, nil
	}
	// One dense tensor [batch, shape…], as TF Serving parses it.
	flat, shape, err := denseFloats(list)
	if err != nil {
		return nil, badRequest("'inputs': %v", err)
	}
	shapes := imageShapes(sig)
	if !slices.ContainsFunc(shapes, func(s []int) bool { return slices.Equal(shape[1:], s) }) {
		want := make([]string, len(shapes))
		for i, s := range shapes {
			want[i] = shapeString(append([]int{len(list)}, s...))
		}
		return nil, badRequest("'inputs' has shape %s, want %s", shapeString(shape), strings.Join(want, " or "))
	}
	n := sig.InputSize
	for i := range out {
		out[i] = flat[i*n : (i+1)*n : (i+1)*n]
	}
	return out, nil
}

// oneInput turns one instance into a model input: a string for a text
// model, a []float32 of InputSize values for an image model.
func oneInput(v Value, sig inference.Signature) (inference.Input, error) {
	if sig.Kind == inference.KindText {
		return textValue(v)
	}
	return imageValue(v, sig)
}

// textValue reads one text: a string, or Bytes that are UTF-8.
func textValue(v Value) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case Bytes:
		if !utf8.Valid(t) {
			return "", badRequest("the b64 value decodes to %d bytes that are not UTF-8 text; a text model takes text", len(t))
		}
		return string(t), nil
	default:
		return "", typeError(v, "DT_STRING")
	}
}

// imageValue reads one image: nested lists of numbers in one of the
// model's input shapes.
func imageValue(v Value, sig inference.Signature) ([]float32, error) {
	shapes := imageShapes(sig)
	if _, ok := v.(Bytes); ok {
		return nil, badRequest("binary ({\"b64\": …}) values are for text models; this image model takes numbers in shape %s", shapesString(shapes))
	}
	if _, ok := v.([]any); !ok {
		return nil, badRequest("JSON Value: %s is not a list of numbers; this model takes shape %s", show(v), shapesString(shapes))
	}
	flat, shape, err := denseFloats(v)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(shapes, func(s []int) bool { return slices.Equal(shape, s) }) {
		return nil, badRequest("shape %s, want %s", shapeString(shape), shapesString(shapes))
	}
	return flat, nil
}

// denseFloats flattens nested lists of numbers into row-major float32s and
// their shape, refusing ragged lists, non-numbers and values outside
// float32's finite range.
func denseFloats(v Value) ([]float32, []int, error) {
	var shape []int
	for t := v; ; {
		list, ok := t.([]any)
		if !ok {
			break
		}
		shape = append(shape, len(list))
		if len(list) == 0 {
			break
		}
		t = list[0]
	}
	var flat []float32
	var walk func(v Value, level int) error
	walk = func(v Value, level int) error {
		list, ok := v.([]any)
		if !ok {
			if level != len(shape) {
				return badRequest("JSON Value: %s found at incorrect level: %d in the JSON DOM. Expected at level: %d", show(v), level+1, len(shape))
			}
			f, err := floatValue(v)
			if err != nil {
				return err
			}
			flat = append(flat, f)
			return nil
		}
		if level >= len(shape) {
			return badRequest("Encountered list at unexpected level: %d expected < %d", level, len(shape))
		}
		if len(list) != shape[level] {
			return badRequest("Encountered list at unexpected size: %d at level: %d expected size: %d", len(list), level, shape[level])
		}
		for _, e := range list {
			if err := walk(e, level+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(v, 0); err != nil {
		return nil, nil, err
	}
	return flat, shape, nil
}

// floatValue reads one finite float32.
func floatValue(v Value) (float32, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, typeError(v, "DT_FLOAT")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > math.MaxFloat32 {
		return 0, badRequest("JSON Value: %s is outside the finite range of DT_FLOAT; inputs must be finite numbers", n)
	}
	return float32(f), nil
}

// typeError is TF Serving's message for a value of the wrong JSON type.
func typeError(v Value, dtype string) error {
	return badRequest("JSON Value: %s Type: %s is not of expected type: %s", show(v), jsonType(v), dtype)
}

// exampleInputs turns :classify / :regress examples into model inputs,
// reading each one's feature named after the model's input (from the
// example or the shared context). Other features are ignored, as a
// model's parsing spec ignores features it does not name.
func exampleInputs(req ClassifyRequest, sig inference.Signature, maxBatch int) ([]inference.Input, error) {
	if len(req.Examples) > maxBatch {
		return nil, badRequest("%d examples in one request, at most %d", len(req.Examples), maxBatch)
	}
	name := inputName(sig)
	shared, inContext := req.Context[name]
	out := make([]inference.Input, len(req.Examples))
	for i, ex := range req.Examples {
		v, ok := ex[name]
		switch {
		case ok && inContext:
			return nil, badRequest("Feature: %s appears in both 'context' and example %d", name, i)
		case inContext:
			v = shared
		case !ok:
			return nil, badRequest("Example %d has no feature %q, this model's input", i, name)
		}
		in, err := featureInput(name, v, sig)
		if err != nil {
			return nil, badRequest("Example %d: %v", i, err)
		}
		out[i] = in
	}
	return out, nil
}

// featureInput reads one feature as tf.Example holds it: a value or a flat
// list of values (bytes for a text, floats for an image).
func featureInput(name string, v Value, sig inference.Signature) (inference.Input, error) {
	list, isList := v.([]any)
	if sig.Kind == inference.KindText {
		if isList {
			if len(list) != 1 {
				return nil, badRequest("Feature: %s has %d values; a text model takes one text", name, len(list))
			}
			v = list[0]
		}
		if _, nested := v.([]any); nested {
			return nil, badRequest("Feature: %s has element with unexpected JSON type: Array", name)
		}
		return textValue(v)
	}
	if !isList {
		list = []any{v}
	}
	x := make([]float32, len(list))
	for i, e := range list {
		if _, nested := e.([]any); nested {
			return nil, badRequest("Feature: %s has element with unexpected JSON type: Array (a feature is a flat list)", name)
		}
		f, err := floatValue(e)
		if err != nil {
			return nil, badRequest("Feature: %s: %v", name, err)
		}
		x[i] = f
	}
	if len(x) != sig.InputSize {
		return nil, badRequest("Feature: %s has %d values, want %d", name, len(x), sig.InputSize)
	}
	return x, nil
}
