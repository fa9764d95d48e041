package kserve

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/shoalmesh/shoal/serve/inference"
)

// Tensor names: the model's one input (InputText for text models,
// InputImage for image models) and the outputs it gives per input.
const (
	InputText  = "text"
	InputImage = "x"

	OutputClass         = "class"         // INT64 [N]: index of the best class
	OutputLabel         = "label"         // BYTES [N]: its label
	OutputProbability   = "probability"   // FP32 [N]: its probability
	OutputProbabilities = "probabilities" // FP32 [N, classes]: every class's, in label order
)

// outputNames lists the outputs in the order answers give them.
var outputNames = []string{OutputClass, OutputLabel, OutputProbability, OutputProbabilities}

// TensorMetadata describes a tensor in model metadata; -1 is a dimension
// of any size (the batch).
type TensorMetadata struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

// ModelMetadata answers GET /v2/models/{m}[/versions/{v}].
type ModelMetadata struct {
	Name string `json:"name"`
	// Versions lists the loaded versions, newest first, as strings.
	Versions []string         `json:"versions,omitempty"`
	Platform string           `json:"platform"`
	Inputs   []TensorMetadata `json:"inputs"`
	Outputs  []TensorMetadata `json:"outputs"`
}

// ResponseOutput is one output tensor of an answer; Data is flat, in
// row-major order.
type ResponseOutput struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	Datatype string `json:"datatype"`
	Data     any    `json:"data"`
}

// InferResponse answers /infer.
type InferResponse struct {
	ModelName    string           `json:"model_name"`
	ModelVersion string           `json:"model_version"`
	ID           string           `json:"id"`
	Outputs      []ResponseOutput `json:"outputs"`
}

func inputName(sig inference.Signature) string {
	if sig.Kind == inference.KindText {
		return InputText
	}
	return InputImage
}

// imageShapes lists the shapes one image may have: InputShape and, when
// it differs, the flat [InputSize].
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

// modelMetadata answers GET /v2/models/{m}[/versions/{v}].
func (h *handler) modelMetadata(mr modelRoute) (any, error) {
	m, err := h.lookup(mr)
	if err != nil {
		return nil, err
	}
	sig := m.Signature()
	md := ModelMetadata{Name: m.Name(), Platform: Platform}
	if vs, err := h.cat.Versions(mr.model); err == nil {
		for _, v := range vs {
			if v.State == inference.StateAvailable {
				md.Versions = append(md.Versions, strconv.Itoa(v.Version))
			}
		}
	}
	in := TensorMetadata{Name: InputText, Datatype: TypeBytes, Shape: []int{-1}}
	if sig.Kind != inference.KindText {
		in = TensorMetadata{Name: InputImage, Datatype: TypeFP32, Shape: append([]int{-1}, imageShapes(sig)[0]...)}
	}
	classes := len(sig.Labels)
	if classes == 0 {
		classes = -1
	}
	md.Inputs = []TensorMetadata{in}
	md.Outputs = []TensorMetadata{
		{Name: OutputClass, Datatype: TypeInt64, Shape: []int{-1}},
		{Name: OutputLabel, Datatype: TypeBytes, Shape: []int{-1}},
		{Name: OutputProbability, Datatype: TypeFP32, Shape: []int{-1}},
		{Name: OutputProbabilities, Datatype: TypeFP32, Shape: []int{-1, classes}},
	}
	return md, nil
}

// infer answers POST …/infer.
func (h *handler) infer(r *http.Request, w http.ResponseWriter, mr modelRoute) (any, error) {
	if r.Header.Get("Inference-Header-Content-Length") != "" {
		return nil, badRequest("the binary tensor data extension is not supported; send the tensors as JSON")
	}
	ctx := r.Context()
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	body, err := h.readBody(w, r)
	if err != nil {
		return nil, err
	}
	req, err := DecodeInferRequest(body)
	if err != nil {
		return nil, err
	}
	m, err := h.lookup(mr)
	if err != nil {
		return nil, err
	}
	sig := m.Signature()
	wanted, err := requestedOutputs(req.Outputs)
	if err != nil {
		return nil, err
	}
	inputs, err := modelInputs(req.Inputs, sig, h.maxBatch)
	if err != nil {
		return nil, err
	}
	for i, in := range inputs {
		if err := m.Check(in); err != nil {
			return nil, badRequest("input %q, batch entry %d: %v", inputName(sig), i, err)
		}
	}
	preds, err := m.Predict(ctx, inputs)
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, lookupError(mr, err)
		}
		return nil, newError(statusOf(err), "%v", err)
	}
	if len(preds) != len(inputs) {
		return nil, newError(http.StatusInternalServerError, "model answered %d predictions for %d inputs", len(preds), len(inputs))
	}
	id := req.ID
	if id == "" {
		id = newID()
	}
	resp := InferResponse{ModelName: m.Name(), ModelVersion: strconv.Itoa(m.Version()), ID: id}
	for _, name := range wanted {
		resp.Outputs = append(resp.Outputs, output(name, preds))
	}
	return resp, nil
}

// requestedOutputs returns the names of the outputs to answer: those asked
// for, in their order, or all.
func requestedOutputs(outs []RequestOutput) ([]string, error) {
	if len(outs) == 0 {
		return outputNames, nil
	}
	names := make([]string, len(outs))
	for i, o := range outs {
		if !slices.Contains(outputNames, o.Name) {
			return nil, badRequest("unknown output %q; this model gives %s", o.Name, strings.Join(outputNames, ", "))
		}
		names[i] = o.Name
	}
	return names, nil
}

// modelInputs turns the request's one input tensor into a batch of model
// inputs: for a text model BYTES of shape [N] or [N,1]; for an image model
// any numeric datatype of shape [N]+InputShape or [N, InputSize].
func modelInputs(ins []RequestInput, sig inference.Signature, maxBatch int) ([]inference.Input, error) {
	name := inputName(sig)
	if len(ins) != 1 || ins[0].Name != name {
		got := make([]string, len(ins))
		for i, in := range ins {
			got[i] = strconv.Quote(in.Name)
		}
		return nil, badRequest("this model takes one input, %q; the request has %s", name, strings.Join(got, ", "))
	}
	in := ins[0]
	if len(in.Shape) == 0 || in.Shape[0] == 0 {
		return nil, badRequest("input %q: shape %s has no batch; the first dimension counts the inputs and must be at least 1", name, shapeString(in.Shape))
	}
	n := in.Shape[0]
	if n > maxBatch {
		return nil, badRequest("input %q: a batch of %d, at most %d in one request", name, n, maxBatch)
	}
	out := make([]inference.Input, n)
	if sig.Kind == inference.KindText {
		texts, ok := in.Data.([]string)
		if !ok {
			return nil, badRequest("input %q: datatype %s; this text model takes %s", name, in.Datatype, TypeBytes)
		}
		if !slices.Equal(in.Shape, []int{n}) && !slices.Equal(in.Shape, []int{n, 1}) {
			return nil, badRequest("input %q: shape %s, want [%d] or [%d,1] (one text per entry)", name, shapeString(in.Shape), n, n)
		}
		for i, s := range texts {
			out[i] = s
		}
		return out, nil
	}
	shapes := imageShapes(sig)
	if !slices.ContainsFunc(shapes, func(s []int) bool { return slices.Equal(in.Shape[1:], s) }) {
		want := make([]string, len(shapes))
		for i, s := range shapes {
			want[i] = shapeString(append([]int{n}, s...))
		}
		return nil, badRequest("input %q: shape %s, want %s", name, shapeString(in.Shape), strings.Join(want, " or "))
	}
	flat, err := floats(in)
	if err != nil {
		return nil, badRequest("input %q: %v", name, err)
	}
	size := sig.InputSize
	for i := range out {
		out[i] = flat[i*size : (i+1)*size : (i+1)*size]
	}
	return out, nil
}

// floats converts numeric tensor data to float32.
func floats(in RequestInput) ([]float32, error) {
	switch d := in.Data.(type) {
	case []float32:
		return d, nil
	case []float64:
		out := make([]float32, len(d))
		for i, f := range d {
			if math.Abs(f) > math.MaxFloat32 {
				return nil, badRequest("data element %d: %v is outside the finite range of FP32, which this model computes in", i, f)
			}
			out[i] = float32(f)
		}
		return out, nil
	case []int64:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out, nil
	case []uint64:
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out, nil
	default:
		return nil, badRequest("datatype %s; this image model takes numbers (FP32, or another numeric type)", in.Datatype)
	}
}

// output builds one output tensor from the predictions.
func output(name string, preds []inference.Prediction) ResponseOutput {
	n := len(preds)
	switch name {
	case OutputClass:
		data := make([]int, n)
		for i, p := range preds {
			data[i] = p.Class
		}
		return ResponseOutput{Name: name, Shape: []int{n}, Datatype: TypeInt64, Data: data}
	case OutputLabel:
		data := make([]string, n)
		for i, p := range preds {
			data[i] = p.Label
		}
		return ResponseOutput{Name: name, Shape: []int{n}, Datatype: TypeBytes, Data: data}
	case OutputProbability:
		data := make([]float32, n)
		for i, p := range preds {
			data[i] = float32(p.Probability)
		}
		return ResponseOutput{Name: name, Shape: []int{n}, Datatype: TypeFP32, Data: data}
	default: // OutputProbabilities
		k := 0
		if n > 0 {
			k = len(preds[0].Probabilities)
		}
		data := make([]float32, 0, n*k)
		for _, p := range preds {
			for j := range k {
				q := 0.0
				if j < len(p.Probabilities) {
					q = p.Probabilities[j]
				}
				data = append(data, float32(q))
			}
		}
		return ResponseOutput{Name: name, Shape: []int{n, k}, Datatype: TypeFP32, Data: data}
	}
}
