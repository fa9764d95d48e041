package nn

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shoalmesh/shoal/engine/qgemm"
	"github.com/shoalmesh/shoal/engine/quant"
)

// An int8 model is an *Model like a float one: the same Forward, Evaluate,
// Spec, InputSize and OutputSize, so everything that runs a model (eval,
// predict, the model server) takes either form without knowing which. Its
// layers are the int8 twins of dense, conv2d, lstm, embedding and
// embedding_bag (q*.go); pooling, flatten, dropout and activations are the
// float layers. It only infers: TrainBatch panics and SetParams fails.
//
// Weights are symmetric int8 per output channel (engine/quant): a column
// of a dense or LSTM kernel [in, out], a filter of a conv kernel, a row
// (token) of an embedding table. Activations are quantized as each
// product needs them, per row with the row's own scale (dynamic) or with
// a scale fixed from calibration data (static, QuantizeOptions.ActMax).
// Biases stay float32 and are added by the kernel.

// Int8Tensor is an int8 tensor of a quantized model, as its file stores
// it; the matching per-channel scales are the float tensor of the same
// name with ".scale" appended.
type Int8Tensor struct {
	Name  string
	Shape []int
	Data  []int8
}

// QuantizeOptions tune Quantize and BuildQuantized.
type QuantizeOptions struct {
	// ActMax, when not nil, holds for each layer (by index in the spec)
	// the largest input magnitude seen on calibration data (Calibrate):
	// a dense, conv2d or lstm layer with a value > 0 quantizes its input
	// with that one fixed scale (static), skipping the per-row search for
	// the largest value; inputs beyond it are clamped. 0 keeps a layer
	// dynamic.
	ActMax []float32
}

// quantState is what a quantized model has beyond a float one.
type quantState struct {
	int8s     []Int8Tensor
	numParams int
	actMax    []float32
}

// Quantized reports whether m is an int8 model.
func (m *Model) Quantized() bool { return m.quant != nil }

// Int8Tensors returns the int8 tensors of a quantized model (nil for a
// float model), sharing their data with the model: do not modify them.
// Tensors returns its float tensors (biases and scales).
func (m *Model) Int8Tensors() []Int8Tensor {
	if m.quant == nil {
		return nil
	}
	return slices.Clone(m.quant.int8s)
}

// ActMax returns the static input maxima a quantized model was built with
// (nil when every layer is dynamic).
func (m *Model) ActMax() []float32 {
	if m.quant == nil {
		return nil
	}
	return slices.Clone(m.quant.actMax)
}

// Quantize returns an int8 copy of the float model m (m is unchanged).
func (m *Model) Quantize(o QuantizeOptions) (*Model, error) {
	if m.quant != nil {
		return nil, errors.New("nn: the model is already int8")
	}
	f32, i8, err := quantizeWeights(m)
	if err != nil {
		return nil, err
	}
	return BuildQuantized(m.spec, f32, i8, o)
}

// Calibrate runs the float model m over n samples of x (batches of batch)
// and returns, for each layer, the largest magnitude its input took: the
// ActMax of a static quantization.
func (m *Model) Calibrate(x []float32, n, batch int) []float32 {
	out := make([]float32, len(m.layers))
	if batch <= 0 {
		batch = 256
	}
	m.ctx.keepInputs = true
	defer func() { m.ctx.keepInputs = false }()
	for lo := 0; lo < n; lo += batch {
		b := min(batch, n-lo)
		m.Forward(x[lo*m.inSize:], b)
		for i, in := range m.inputs {
			switch m.layers[i].(type) {
			case *embedding, *embeddingBag:
				continue // token ids, not activations
			}
			out[i] = max(out[i], qgemm.MaxAbs(in))
		}
	}
	return out
}

// quantizeWeights quantizes every weight tensor of m per output channel
// and names the results as a quantized model file does.
func quantizeWeights(m *Model) ([]Tensor, []Int8Tensor, error) {
	var f32 []Tensor
	var i8 []Int8Tensor
	name := func(i int, l layer, s string) string { return fmt.Sprintf("layers.%d.%s.%s", i, l.kind(), s) }
	add := func(i int, l layer, s string, shape []int, q []int8, scale []float32, err error) error {
		if err != nil {
			return fmt.Errorf("nn: quantizing layer %d (%s): %w", i, l.kind(), err)
		}
		i8 = append(i8, Int8Tensor{Name: name(i, l, s), Shape: shape, Data: q})
		f32 = append(f32, Tensor{Name: name(i, l, s+".scale"), Shape: []int{len(scale)}, Data: scale})
		return nil
	}
	bias := func(i int, l layer, b []float32) {
		f32 = append(f32, Tensor{Name: name(i, l, "bias"), Shape: []int{len(b)}, Data: slices.Clone(b)})
	}
	for i, l := range m.layers {
		var err error
		switch l := l.(type) {
		case *dense:
			q, s, e := quant.PerColumn(l.w, l.in, l.out)
			err = add(i, l, "kernel", []int{l.in, l.out}, q, s, e)
			bias(i, l, l.b)
		case *conv2d:
			q, s, e := quant.PerRow(l.wt, l.f, l.c*l.k*l.k)
			err = add(i, l, "kernel", []int{l.f, l.c, l.k, l.k}, q, s, e)
			bias(i, l, l.b)
		case *lstm:
			dirs := []*lstm{l}
			if l.rev != nil {
				dirs = append(dirs, l.rev)
			}
			for _, d := range dirs {
				prefix := ""
				if d.reverse {
					prefix = "reverse."
				}
				q, s, e := quant.PerColumn(d.w, d.in, 4*d.units)
				if err = add(i, l, prefix+"kernel", []int{d.in, 4 * d.units}, q, s, e); err == nil {
					q, s, e = quant.PerColumn(d.u, d.units, 4*d.units)
					err = add(i, l, prefix+"recurrent", []int{d.units, 4 * d.units}, q, s, e)
				}
				if err != nil {
					break
				}
				f32 = append(f32, Tensor{Name: name(i, l, prefix+"bias"), Shape: []int{len(d.b)}, Data: slices.Clone(d.b)})
			}
		case *embedding:
			q, s, e := quant.PerRow(l.w, l.vocab, l.dim)
			err = add(i, l, "weight", []int{l.vocab, l.dim}, q, s, e)
		case *embeddingBag:
			q, s, e := quant.PerRow(l.w, l.vocab, l.dim)
			err = add(i, l, "weight", []int{l.vocab, l.dim}, q, s, e)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return f32, i8, nil
}
