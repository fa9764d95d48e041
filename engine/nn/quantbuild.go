package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shoalmesh/shoal/engine/qgemm"
)

// BuildQuantized builds an int8 model of spec s from its tensors, as a
// quantized model file holds them: per dense, conv2d and lstm layer the
// int8 kernels (and recurrent) with float ".scale" tensors and a float
// bias, per embedding an int8 weight with a ".scale" per row. Every tensor
// must be there with its exact shape, finite, codes in [-127, 127] and
// scales >= 0, and nothing else; errors name the tensor.
func BuildQuantized(s Spec, f32 []Tensor, i8 []Int8Tensor, o QuantizeOptions) (*Model, error) {
	fm, err := Build(s, 0) // the float skeleton: sizes, names, folded loss
	if err != nil {
		return nil, err
	}
	if o.ActMax != nil && len(o.ActMax) != len(fm.layers) {
		return nil, fmt.Errorf("nn: %d static activation maxima for %d layers", len(o.ActMax), len(fm.layers))
	}
	for i, v := range o.ActMax {
		if !(v >= 0) || v > math.MaxFloat32 {
			return nil, fmt.Errorf("nn: static activation maximum %d is %v", i, v)
		}
	}
	b := &qbuilder{f32: map[string]Tensor{}, i8: map[string]Int8Tensor{}}
	for _, t := range f32 {
		b.f32[t.Name] = t
	}
	for _, t := range i8 {
		b.i8[t.Name] = t
	}
	m := &Model{spec: fm.spec, loss: fm.loss, inSize: fm.inSize, outSize: fm.outSize}
	m.quant = &quantState{numParams: fm.NumParams(), actMax: slices.Clone(o.ActMax)}
	shape := slices.Clone(s.Input) // current activation shape (CHW for images)
	hwc := false                   // activations are channels-last (after a qconv)
	var perm []int                 // flat activations in HWC order: perm[hwc] = chw index
	toEngine := func() {
		if hwc || perm != nil {
			c, h, w := shape[0], shape[1], shape[2]
			if perm != nil {
				c, h, w = b.permShape[0], b.permShape[1], b.permShape[2]
			}
			m.layers = append(m.layers, &toCHW{c: c, h: h, w: w})
			hwc, perm = false, nil
		}
	}
	for i, fl := range fm.layers {
		b.prefix = fmt.Sprintf("layers.%d.%s.", i, fl.kind())
		static := float32(0)
		if o.ActMax != nil {
			static = o.ActMax[i]
		}
		var l layer
		switch fl := fl.(type) {
		case *dense:
			if hwc {
				toEngine()
			}
			q, sc, bias := b.int8("kernel", fl.in, fl.out), b.float("kernel.scale", fl.out), b.float("bias", fl.out)
			if b.err != nil {
				return nil, b.err
			}
			if perm != nil && fl.in == len(perm) {
				// Rows in the order the HWC activations arrive.
				pq := make([]int8, len(q))
				for r, src := range perm {
					copy(pq[r*fl.out:(r+1)*fl.out], q[src*fl.out:(src+1)*fl.out])
				}
				q, perm = pq, nil
			}
			toEngine()
			w, err := qgemm.Pack(fl.in, fl.out, q, fl.out, 1, sc, bias)
			if err != nil {
				return nil, fmt.Errorf("nn: layer %d (dense): %w", i, err)
			}
			l = &qdense{in: fl.in, out: fl.out, outer: fl.outer, act: fl.act, w: w, aq: actQuant{max: static}}
			shape = append(shape[:len(shape)-1:len(shape)-1], fl.out)
		case *conv2d:
			if perm != nil {
				return nil, fmt.Errorf("nn: layer %d (conv2d) after a flatten", i) // a valid spec has none
			}
			q := b.int8("kernel", fl.f, fl.c, fl.k, fl.k)
			sc, bias := b.float("kernel.scale", fl.f), b.float("bias", fl.f)
			if b.err != nil {
				return nil, b.err
			}
			qc, err := newQConv(fl, hwc, quantFuse, q, sc, bias)
			if err != nil {
				return nil, fmt.Errorf("nn: layer %d (conv2d): %w", i, err)
			}
			qc.max = static
			l, hwc, shape = qc, true, []int{fl.f, fl.ho, fl.wo}
		case *maxpool:
			if prev, ok := lastLayer(m.layers).(*qconv); ok && hwc && quantFuse && prev.pool == nil && prev.act != actSoftmax {
				prev.pool = &pool2d{pool: fl.pool, stride: fl.stride, ho: fl.ho, wo: fl.wo}
				shape = []int{fl.c, fl.ho, fl.wo}
				continue
			}
			if hwc {
				l = &hwcPool{c: fl.c, h: fl.h, w: fl.w, pool: fl.pool, stride: fl.stride, ho: fl.ho, wo: fl.wo}
			} else {
				toEngine()
				l = fl
			}
			shape = []int{fl.c, fl.ho, fl.wo}
		case flatten:
			if hwc {
				b.permShape = slices.Clone(shape)
				perm = hwcPerm(shape[0], shape[1], shape[2])
				hwc = false
			}
			l, shape = fl, []int{prod(shape)}
		case *dropout:
			l = fl // the identity at inference, in any layout
		case *actLayer:
			if fl.act == actSoftmax {
				toEngine() // over the last axis: the layout matters
			}
			l = fl
		case *lstm:
			toEngine()
			ql, err := b.qlstm(fl, "")
			if err == nil && fl.rev != nil {
				ql.qrev, err = b.qlstm(fl.rev, "reverse.")
			}
			if err != nil {
				return nil, fmt.Errorf("nn: layer %d (lstm): %w", i, err)
			}
			ql.max = static
			if ql.qrev != nil {
				ql.qrev.max = static
			}
			l = ql
			if fl.seq {
				shape = []int{fl.steps, fl.units}
			} else {
				shape = []int{fl.outWidth()}
			}
		case *embedding:
			q, sc := b.int8("weight", fl.vocab, fl.dim), b.float("weight.scale", fl.vocab)
			e := &qembedding{embedding: embedding{steps: fl.steps, vocab: fl.vocab, dim: fl.dim, pad: fl.pad}, q: q, scale: sc}
			clear(e.q[fl.pad*fl.dim : (fl.pad+1)*fl.dim]) // padding stays zero, as in the float layer
			l, shape = e, []int{fl.steps, fl.dim}
		case *embeddingBag:
			q, sc := b.int8("weight", fl.vocab, fl.dim), b.float("weight.scale", fl.vocab)
			e := &qembeddingBag{embeddingBag: embeddingBag{steps: fl.steps, vocab: fl.vocab, dim: fl.dim, pad: fl.pad}, q: q, scale: sc}
			clear(e.q[fl.pad*fl.dim : (fl.pad+1)*fl.dim])
			l, shape = e, []int{fl.dim}
		default:
			return nil, fmt.Errorf("nn: layer %d (%s) has no int8 form", i, fl.kind())
		}
		if b.err != nil {
			return nil, b.err
		}
		m.layers = append(m.layers, l)
	}
	toEngine()
	for name := range b.f32 {
		return nil, fmt.Errorf("tensor %q is not part of the int8 model", name)
	}
	for name := range b.i8 {
		return nil, fmt.Errorf("tensor %q is not part of the int8 model", name)
	}
	// The float tensors (biases, scales) in one slice, for Params and
	// Tensors; the layers hold their own packed copies.
	total := 0
	for _, t := range b.used {
		total += len(t.Data)
	}
	m.params = make([]float32, 0, total)
	for _, t := range b.used {
		off := len(m.params)
		m.params = append(m.params, t.Data...)
		m.tensors = append(m.tensors, Tensor{Name: t.Name, Shape: slices.Clone(t.Shape), Data: m.params[off:len(m.params):len(m.params)]})
	}
	m.quant.int8s = b.usedI8
	m.inputs = make([][]float32, len(m.layers))
	m.ctx.rng = rand.New(rand.NewPCG(0, 0xd50f))
	return m, nil
}

// quantFuse lets BuildQuantized fuse a max pool into the conv before it
// and pack one-channel convolutions by kernel rows (see newQConv). Both
// give the same bits as the plain layers; tests turn it off to check that.
var quantFuse = true

func lastLayer(ls []layer) layer {
	if len(ls) == 0 {
		return nil
	}
	return ls[len(ls)-1]
}

// hwcPerm maps each position of a flattened HWC [c, h, w] activation to
// its position in the CHW order the float model's dense weights expect.
func hwcPerm(c, h, w int) []int {
	p := make([]int, c*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ch := 0; ch < c; ch++ {
				p[(y*w+x)*c+ch] = (ch*h+y)*w + x
			}
		}
	}
	return p
}

// qbuilder takes a model's tensors by name, checking each, and
// remembers the first error.
type qbuilder struct {
	f32       map[string]Tensor
	i8        map[string]Int8Tensor
	prefix    string
	err       error
	used      []Tensor
	usedI8    []Int8Tensor
	permShape []int
}

func (b *qbuilder) float(name string, n int) []float32 {
	if b.err != nil {
		return nil
	}
	name = b.prefix + name
	t, ok := b.f32[name]
	if !ok {
		b.err = fmt.Errorf("tensor %q is missing", name)
		return nil
	}
	if len(t.Shape) != 1 || t.Shape[0] != n || len(t.Data) != n {
		b.err = fmt.Errorf("tensor %q has shape %v, the spec needs [%d]", name, t.Shape, n)
		return nil
	}
	for i, v := range t.Data {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 || (v < 0 && strings.HasSuffix(name, ".scale")) {
			b.err = fmt.Errorf("tensor %q: value %d is %v", name, i, v)
			return nil
		}
	}
	delete(b.f32, name)
	t.Data = slices.Clone(t.Data)
	b.used = append(b.used, t)
	return t.Data
}

func (b *qbuilder) int8(name string, shape ...int) []int8 {
	if b.err != nil {
		return nil
	}
	name = b.prefix + name
	t, ok := b.i8[name]
	if !ok {
		b.err = fmt.Errorf("tensor %q is missing", name)
		return nil
	}
	if !slices.Equal(t.Shape, shape) || len(t.Data) != prod(shape) {
		b.err = fmt.Errorf("tensor %q has shape %v, the spec needs %v", name, t.Shape, shape)
		return nil
	}
	for i, v := range t.Data {
		if v == -128 {
			b.err = fmt.Errorf("tensor %q: value %d is -128, outside the symmetric range [-127, 127]", name, i)
			return nil
		}
	}
	delete(b.i8, name)
	t.Data = slices.Clone(t.Data)
	b.usedI8 = append(b.usedI8, t)
	return t.Data
}

// qlstm takes one direction's int8 kernel and recurrent kernel, their
// scales and the bias (named with prefix) and packs them.
func (b *qbuilder) qlstm(fl *lstm, prefix string) (*qlstm, error) {
	G := 4 * fl.units
	wq, ws := b.int8(prefix+"kernel", fl.in, G), b.float(prefix+"kernel.scale", G)
	uq, us := b.int8(prefix+"recurrent", fl.units, G), b.float(prefix+"recurrent.scale", G)
	bias := b.float(prefix+"bias", G)
	if b.err != nil {
		return nil, b.err
	}
	w, err := qgemm.Pack(fl.in, G, wq, G, 1, ws, nil)
	if err != nil {
		return nil, err
	}
	u, err := qgemm.Pack(fl.units, G, uq, G, 1, us, nil)
	if err != nil {
		return nil, err
	}
	return newQLSTM(fl, w, u, bias), nil
}
