package artifact

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"

	"github.com/shoalmesh/shoal/engine/jsonx"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/qgemm"
)

// An int8 model file is a float one whose weight tensors are I8, each with
// an F32 tensor of per-channel scales named after it plus ".scale", and
// whose metadata says so under MetaQuant. A file without that key is a
// float file and loads exactly as before; one with it loads through
// nn.BuildQuantized, and the artifact's Model is then an int8 *nn.Model
// that Predict, eval and the server run like any other.

// MetaQuant is the metadata key of an int8 model's Quantization (JSON).
const MetaQuant = "quantization"

// SchemeInt8 is the one scheme this build writes and reads.
const SchemeInt8 = "int8-symmetric-per-channel"

// MaxQuantBytes bounds the Quantization metadata.
const MaxQuantBytes = 1 << 20

// Quantization describes how an int8 model was made. Fields may be added.
type Quantization struct {
	Scheme string `json:"scheme"` // SchemeInt8
	// Weights and Activations say in words what the scheme does, for a
	// person reading the file's metadata.
	Weights     string `json:"weights"`
	Activations string `json:"activations"` // "dynamic per row" or "static (calibrated)"
	// ActMax are the static input maxima per layer (nn.QuantizeOptions).
	ActMax []float32 `json:"act_max,omitempty"`
	// Kernel is the int8 kernel of the machine that quantized it; any
	// machine runs the file with its own.
	Kernel string `json:"kernel,omitempty"`
}

const weightsDoc = "int8 in [-127,127], one float32 scale per output channel (dense/lstm column, conv filter, embedding row), biases float32"

// Quantize returns a copy of a with an int8 model (a is unchanged). Its
// Hash is empty until it is saved.
func (a *Artifact) Quantize(o nn.QuantizeOptions) (*Artifact, error) {
	q, err := a.Model.Quantize(o)
	if err != nil {
		return nil, err
	}
	prov := a.Provenance
	prov.Extra = maps.Clone(prov.Extra)
	if prov.Extra == nil {
		prov.Extra = map[string]string{}
	}
	if a.Hash != "" {
		prov.Extra["quantized_from"] = a.Hash
	}
	return New(q, a.Kind, a.Labels, a.Encoder, prov)
}

// Quantization returns the scheme of an int8 model, and false for a float one.
func (a *Artifact) Quantization() (Quantization, bool) {
	if !a.Model.Quantized() {
		return Quantization{}, false
	}
	return describeQuant(a.Model), true
}

func describeQuant(m *nn.Model) Quantization {
	q := Quantization{Scheme: SchemeInt8, Weights: weightsDoc, Activations: "dynamic per row", Kernel: qgemm.Kernel()}
	if am := m.ActMax(); am != nil {
		q.Activations, q.ActMax = "static (calibrated)", am
	}
	return q
}

// encodeQuant adds an int8 model's I8 tensors and its MetaQuant entry.
func encodeQuant(m *nn.Model, ts []modelfile.Tensor, meta map[string]string) ([]modelfile.Tensor, error) {
	b, err := json.Marshal(describeQuant(m))
	if err != nil {
		return nil, fmt.Errorf("artifact: %s: %w", MetaQuant, err)
	}
	meta[MetaQuant] = string(b)
	for _, t := range m.Int8Tensors() {
		ts = append(ts, modelfile.I8Tensor(t.Name, t.Shape, t.Data))
	}
	return ts, nil
}

// parseQuant reads and checks a MetaQuant value.
func parseQuant(s string) (Quantization, error) {
	var q Quantization
	if len(s) > MaxQuantBytes {
		return q, fmt.Errorf("%s: %d bytes, limit %d", MetaQuant, len(s), MaxQuantBytes)
	}
	// Lenient about unknown fields (newer writers may add some), strict
	// about the scheme: a scheme this build does not know would be run
	// wrongly, so it is refused.
	if err := jsonx.Decode([]byte(s), &q); err != nil {
		return q, fmt.Errorf("%s: %w", MetaQuant, err)
	}
	if q.Scheme != SchemeInt8 {
		return q, fmt.Errorf("%s: scheme %q, this build reads %q", MetaQuant, q.Scheme, SchemeInt8)
	}
	if len(q.ActMax) > nn.MaxLayers {
		return q, fmt.Errorf("%s: %d activation maxima, at most %d", MetaQuant, len(q.ActMax), nn.MaxLayers)
	}
	for i, v := range q.ActMax {
		if !(v >= 0) || v > math.MaxFloat32 {
			return q, fmt.Errorf("%s: activation maximum %d is %v", MetaQuant, i, v)
		}
	}
	return q, nil
}

// buildModel builds the model a file holds: float (nn.Build and its
// weights, as always) or, with MetaQuant, int8.
func buildModel(spec nn.Spec, f *modelfile.File) (*nn.Model, error) {
	qs, ok := f.Meta[MetaQuant]
	if !ok {
		m, err := nn.Build(spec, 0)
		if err != nil {
			return nil, fmt.Errorf("model spec: %w", err)
		}
		if err := loadWeights(m, f.Tensors); err != nil {
			return nil, err
		}
		return m, nil
	}
	q, err := parseQuant(qs)
	if err != nil {
		return nil, err
	}
	var f32 []nn.Tensor
	var i8 []nn.Int8Tensor
	for _, t := range f.Tensors {
		if t.DType == modelfile.DTypeI8 {
			v, err := t.Int8s()
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			i8 = append(i8, nn.Int8Tensor{Name: t.Name, Shape: t.Shape, Data: v})
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		f32 = append(f32, nn.Tensor{Name: t.Name, Shape: t.Shape, Data: v})
	}
	m, err := nn.BuildQuantized(spec, f32, i8, nn.QuantizeOptions{ActMax: q.ActMax})
	if err != nil {
		return nil, fmt.Errorf("int8 model: %w", err)
	}
	return m, nil
}
