package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
)

// gradCase is a small network whose analytic gradients (TrainBatch ->
// Grads) are compared with central finite differences of the loss. The
// network computes in float32, so the step is large-ish and the
// tolerances are relative; sums in the comparison are float64.
type gradCase struct {
	name string
	spec Spec
	x, y []float32
	n    int
	step float64
	// scale multiplies the initial parameters: max pooling needs the
	// steps' states well apart, or a finite-difference step crosses a
	// near-tie (at the Glorot init an LSTM's h moves little per step);
	// each max case's scale is one where the closest pair of steps is
	// over 0.003 apart.
	scale float32
}

func seqIDs(rows [][]int, steps int) []float32 {
	x := make([]float32, len(rows)*steps)
	for i, r := range rows {
		for t, v := range r {
			x[i*steps+t] = float32(v)
		}
	}
	return x
}

func uniform(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*r.Float32() - 1
	}
	return x
}

func gradCases() []gradCase {
	r := rand.New(rand.NewPCG(11, 12))
	d := func(units int, act string) LayerSpec { return LayerSpec{Type: "dense", Units: units, Activation: act} }
	// Mixed lengths, post-padded with 0; the third row is all padding
	// (length counts as 1) and the fourth uses id 9 twice.
	textX := seqIDs([][]int{{3, 5, 2, 7, 1}, {4, 2}, {}, {9, 9, 6}}, 5)
	return []gradCase{
		{name: "dense-linear-softmaxCE", spec: Spec{Input: []int{5}, Layers: []LayerSpec{d(3, "")}},
			x: uniform(r, 4*5), y: []float32{0, 2, 1, 2}, n: 4},
		{name: "dense-tanh-BCE", spec: Spec{Input: []int{4}, Layers: []LayerSpec{d(6, "tanh"), d(1, "")}},
			x: uniform(r, 3*4), y: []float32{1, 0, 1}, n: 3},
		{name: "dense-sigmoid-softmax-hidden", spec: Spec{Input: []int{4}, Layers: []LayerSpec{d(5, "sigmoid"), d(4, "softmax"), d(3, "")}},
			x: uniform(r, 3*4), y: []float32{2, 0, 1}, n: 3},
		{name: "dense-relu", spec: Spec{Input: []int{4}, Layers: []LayerSpec{d(7, "relu"), d(2, "")}},
			x: uniform(r, 3*4), y: []float32{1, 0, 1}, n: 3, step: 1e-3},
		{name: "activation-layers", spec: Spec{Input: []int{4}, Layers: []LayerSpec{d(5, ""), {Type: "relu"}, d(5, ""), {Type: "tanh"},
			d(5, ""), {Type: "sigmoid"}, d(4, ""), {Type: "softmax"}, d(3, "")}},
			x: uniform(r, 3*4), y: []float32{2, 1, 0}, n: 3, step: 1e-3},
		{name: "dropout", spec: Spec{Input: []int{6}, Layers: []LayerSpec{d(8, "tanh"), {Type: "dropout", Rate: 0.5}, d(3, "")}},
			x: uniform(r, 4*6), y: []float32{0, 1, 2, 1}, n: 4},
		{name: "keras-final-sigmoid-folded", spec: Spec{Input: []int{3}, Layers: []LayerSpec{d(4, "tanh"), d(1, "sigmoid")}},
			x: uniform(r, 3*3), y: []float32{1, 0, 0}, n: 3},
		{name: "dense-on-last-axis", spec: Spec{Input: []int{3, 4}, Layers: []LayerSpec{d(2, "tanh"), {Type: "flatten"}, d(2, "")}},
			x: uniform(r, 2*12), y: []float32{1, 0}, n: 2},
		{name: "embedding-pad-lstm-last-step", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 3}, {Type: "lstm", Units: 4}, d(1, "")}},
			x: textX, y: []float32{1, 0, 1, 0}, n: 4},
		{name: "embedding-pad2-lstm-softmax", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 3, PaddingID: 2}, {Type: "lstm", Units: 3}, d(3, "")}},
			x: textX, y: []float32{2, 0, 1, 0}, n: 4},
		{name: "lstm-sequences-lstm", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 2}, {Type: "lstm", Units: 3, ReturnSequences: true}, {Type: "lstm", Units: 3}, d(2, "")}},
			x: textX, y: []float32{1, 0, 1, 1}, n: 4},
		{name: "lstm-sequences-flatten", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 2}, {Type: "lstm", Units: 2, ReturnSequences: true}, {Type: "flatten"}, d(1, "")}},
			x: textX, y: []float32{1, 0, 1, 1}, n: 4},
		{name: "embedding-bag-mean-dense", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding_bag", Vocab: 10, Dim: 3}, d(4, "tanh"), d(2, "")}},
			x: textX, y: []float32{1, 0, 1, 0}, n: 4},
		{name: "embedding-bag-pad3-binary", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding_bag", Vocab: 10, Dim: 2, PaddingID: 3}, d(1, "")}},
			x: textX, y: []float32{1, 0, 0, 1}, n: 4},
		// Pooling over the real steps, and the reverse direction, on the
		// same mixed lengths (5, 2, all padding, 3).
		{name: "lstm-mean-pool", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 3}, {Type: "lstm", Units: 4, Pooling: "mean"}, d(1, "")}},
			x: textX, y: []float32{1, 0, 1, 0}, n: 4},
		{name: "lstm-max-pool", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 3, PaddingID: 2}, {Type: "lstm", Units: 4, Pooling: "max"}, d(3, "")}},
			x: textX, y: []float32{2, 0, 1, 0}, n: 4, step: 1e-3, scale: 4},
		{name: "bilstm-last", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 3}, {Type: "lstm", Units: 3, Bidirectional: true}, d(1, "")}},
			x: textX, y: []float32{1, 0, 1, 0}, n: 4},
		{name: "bilstm-mean", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 3}, {Type: "lstm", Units: 3, Bidirectional: true, Pooling: "mean"}, d(2, "")}},
			x: textX, y: []float32{1, 0, 1, 1}, n: 4},
		{name: "bilstm-max", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 2}, {Type: "lstm", Units: 3, Bidirectional: true, Pooling: "max"}, d(1, "")}},
			x: textX, y: []float32{0, 1, 1, 0}, n: 4, step: 1e-3, scale: 5},
		{name: "lstm-sequences-bilstm-mean", spec: Spec{Input: []int{5}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 10, Dim: 2}, {Type: "lstm", Units: 3, ReturnSequences: true},
			{Type: "lstm", Units: 2, Bidirectional: true, Pooling: "mean"}, d(1, "")}},
			x: textX, y: []float32{1, 0, 0, 1}, n: 4},
		{name: "bilstm-float-input", spec: Spec{Input: []int{4, 3}, Layers: []LayerSpec{{Type: "lstm", Units: 3, Bidirectional: true, Pooling: "max"}, d(2, "")}},
			x: uniform(r, 3*12), y: []float32{1, 0, 1}, n: 3, step: 1e-3, scale: 1.5},
		{name: "lstm-float-input", spec: Spec{Input: []int{4, 3}, Layers: []LayerSpec{{Type: "lstm", Units: 3}, d(2, "")}},
			x: uniform(r, 3*12), y: []float32{1, 0, 1}, n: 3},
		{name: "conv-relu-pool-conv-stride-tanh", spec: Spec{Input: []int{2, 6, 6}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 3, Kernel: 3, Pad: 1, Activation: "relu"},
			{Type: "maxpool2d", Pool: 2},
			{Type: "conv2d", Filters: 2, Kernel: 2, Stride: 1, Activation: "tanh"},
			{Type: "conv2d", Filters: 2, Kernel: 2, Stride: 2, Pad: 1},
			{Type: "flatten"}, d(3, "")}},
			x: uniform(r, 2*72), y: []float32{2, 0}, n: 2, step: 1e-3},
		{name: "same-conv-col2im", spec: Spec{Input: []int{2, 5, 4}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 2, Kernel: 3, Pad: 1, Activation: "tanh"},
			{Type: "conv2d", Filters: 2, Kernel: 3, Pad: 1, Activation: "sigmoid"},
			{Type: "conv2d", Filters: 1, Kernel: 5, Pad: 2},
			{Type: "flatten"}, d(2, "")}},
			x: uniform(r, 2*40), y: []float32{1, 0}, n: 2},
		{name: "same-conv-tiny-image", spec: Spec{Input: []int{1, 2, 1}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 2, Kernel: 3, Pad: 1, Activation: "tanh"},
			{Type: "conv2d", Filters: 2, Kernel: 3, Pad: 1},
			{Type: "flatten"}, d(2, "")}},
			x: uniform(r, 2*2), y: []float32{1, 0}, n: 2},
		{name: "maxpool-stride1-sigmoid-conv", spec: Spec{Input: []int{1, 5, 5}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 2, Kernel: 2, Activation: "sigmoid"},
			{Type: "maxpool2d", Pool: 2, Stride: 1},
			{Type: "flatten"}, d(1, "")}},
			x: uniform(r, 2*25), y: []float32{0, 1}, n: 2, step: 1e-3},
	}
}

func TestGradientCheck(t *testing.T) {
	for _, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) {
			m := mustBuild(t, c.spec, 5)
			p := m.Params()
			if c.scale != 0 {
				for i := range p {
					p[i] *= c.scale
				}
			}
			p0 := make([]float64, len(p))
			for i, v := range p {
				p0[i] = float64(v)
			}
			loss := func(q []float64) float64 {
				for i, v := range q {
					p[i] = float32(v)
				}
				m.SetSeed(9) // the same dropout mask every evaluation
				return float64(m.TrainBatch(c.x, c.y, c.n))
			}
			loss(p0)
			if g := maxPoolGap(m, c.n); g < 0.003 {
				t.Fatalf("max pooling: two steps' states are %.2g apart, a finite-difference step would cross the tie (change the case's scale)", g)
			}
			analytic := make([]float64, len(p))
			for i, g := range m.Grads() {
				analytic[i] = float64(g)
			}
			step := c.step
			if step == 0 {
				step = 1e-2
			}
			numeric := fd.Gradient(nil, loss, p0, &fd.Settings{Formula: fd.Central, Step: step})
			var diff2, norm2 float64
			bad := 0
			for i := range numeric {
				a, nu := analytic[i], numeric[i]
				diff2 += (a - nu) * (a - nu)
				norm2 += a*a + nu*nu
				if math.Abs(a-nu) > 1e-3+3e-2*math.Max(math.Abs(a), math.Abs(nu)) {
					if bad < 5 {
						t.Errorf("param %d (%s): analytic %.6g, numeric %.6g", i, paramName(m, i), a, nu)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d gradients disagree", bad, len(numeric))
			}
			if rel := math.Sqrt(diff2 / norm2); !(rel < 1e-2) {
				t.Errorf("relative error of the gradient vector %.3g, want < 1e-2", rel)
			}
			if norm2 < 1e-8 {
				t.Errorf("gradient is all zero: the check would prove nothing")
			}
			// The padding row of an embedding gets no gradient at all.
			if l0 := c.spec.Layers[0]; l0.Type == "embedding" || l0.Type == "embedding_bag" {
				g := m.Grads()[l0.PaddingID*l0.Dim : (l0.PaddingID+1)*l0.Dim]
				for _, v := range g {
					if v != 0 {
						t.Fatalf("padding row gradient %v, want 0", g)
					}
				}
				if v := p[l0.PaddingID*l0.Dim]; v != 0 {
					t.Fatalf("padding row is %v, want 0", v)
				}
			}
		})
	}
}

// maxPoolGap is, over the max-pooling LSTMs of m after a pass over n
// samples, the smallest gap between a unit's largest and second-largest
// state over a sample's real steps (+Inf when there is none).
func maxPoolGap(m *Model, n int) float32 {
	gap := float32(math.Inf(1))
	for _, l := range m.layers {
		l, ok := l.(*lstm)
		if !ok || l.pool != poolMax {
			continue
		}
		for _, d := range []*lstm{l, l.rev} {
			if d == nil {
				continue
			}
			H := d.units
			for r := 0; r < n; r++ {
				L := int(d.lens[d.perm[r]])
				for j := 0; j < H && L > 1; j++ {
					best, second := float32(math.Inf(-1)), float32(math.Inf(-1))
					for t := 1; t <= L; t++ {
						v := d.hs[(t*n+r)*H+j]
						if v > best {
							best, second = v, best
						} else if v > second {
							second = v
						}
					}
					gap = min(gap, best-second)
				}
			}
		}
	}
	return gap
}

func paramName(m *Model, i int) string {
	off := 0
	for _, t := range m.tensors {
		if i < off+len(t.Data) {
			return t.Name
		}
		off += len(t.Data)
	}
	return "?"
}

func TestLossStable(t *testing.T) {
	logits := []float32{1e4, -1e4, 0, -3e4, 5e3, 88}
	y := []float32{1, 0}
	g := make([]float32, 6)
	l := softmaxCE(logits, y, 2, 3, g)
	if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
		t.Fatalf("softmax CE on large logits = %v", l)
	}
	for _, v := range g {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("softmax CE gradient %v", g)
		}
	}
	// Row 0: label 1 is 2e4 below the max; row 1: label 0 is 3.5e4 below.
	if want := (2e4 + 3.5e4) / 2.0; math.Abs(float64(l)-want) > 1 {
		t.Fatalf("softmax CE on large logits = %v, want %v", l, want)
	}
	bl := binaryCE([]float32{1e4, -1e4, 30, -30}, []float32{0, 1, 1, 0}, 4, g)
	if math.Abs(float64(bl)-(2e4+2*math.Log1p(math.Exp(-30)))/4) > 1 {
		t.Fatalf("BCE on large logits = %v, want %v", bl, 2e4/4)
	}
	// Invalid labels add nothing.
	if l := softmaxCE([]float32{1, 2, 3}, []float32{7}, 1, 3, g); l != 0 || g[0] != 0 {
		t.Fatalf("out-of-range label: loss %v grad %v", l, g[:3])
	}
}
