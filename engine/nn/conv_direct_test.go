package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// directSpecs are networks that take every branch of the direct path: one
// channel and 16/32 channel inputs, filter counts that fill one or both
// tile widths or neither (8, 24, 40), rows narrower and wider than a tile
// and not a multiple of it, fused pools of other sizes and strides, a
// conv feeding a conv with and without a pool between (NCHW16c between
// them), and a direct conv after a layer that writes CHW.
var directSpecs = []Spec{
	{Input: []int{1, 28, 28}, Layers: []LayerSpec{ // the cnn preset
		{Type: "conv2d", Filters: 16, Kernel: 3, Pad: 1, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "conv2d", Filters: 32, Kernel: 3, Pad: 1, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "flatten"},
		{Type: "dense", Units: 10},
	}},
	{Input: []int{1, 9, 33}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 48, Kernel: 5, Pad: 2},
		{Type: "maxpool2d", Pool: 3, Stride: 2},
		{Type: "conv2d", Filters: 24, Kernel: 3, Activation: "relu"},
		{Type: "flatten"},
		{Type: "dense", Units: 3},
	}},
	{Input: []int{16, 7, 45}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 32, Kernel: 3, Pad: 1, Activation: "relu"},
		{Type: "conv2d", Filters: 16, Kernel: 1, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2, Stride: 1},
		{Type: "conv2d", Filters: 40, Kernel: 2, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "flatten"},
		{Type: "dense", Units: 2},
	}},
	{Input: []int{32, 5, 6}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 8, Kernel: 3, Pad: 2, Activation: "relu"},
		{Type: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "flatten"},
		{Type: "dense", Units: 4},
	}},
	{Input: []int{1, 18, 19}, Layers: []LayerSpec{ // the pool in the tile, 9 pooled columns, CHW after it
		{Type: "conv2d", Filters: 16, Kernel: 3, Pad: 1},
		{Type: "maxpool2d", Pool: 2},
		{Type: "flatten"},
		{Type: "dense", Units: 3},
	}},
	{Input: []int{3, 12, 12}, Layers: []LayerSpec{ // 3 channels: im2col, then a direct conv on its CHW output
		{Type: "conv2d", Filters: 16, Kernel: 3, Activation: "relu"},
		{Type: "conv2d", Filters: 32, Kernel: 3, Pad: 1, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "flatten"},
		{Type: "dense", Units: 5},
	}},
}

// TestDirectConvMatchesTraining: the direct inference path gives the
// training forward pass's outputs within float rounding (the sums run in
// another order), at batch sizes of one sample, a few and enough to split
// under --threads 2, and again after the weights change in place (the
// packed copy must follow). Training is the im2col path, unchanged.
func TestDirectConvMatchesTraining(t *testing.T) {
	if !haveConvK {
		t.Skip("no AVX-512: inference runs the im2col path (TestInferenceMatchesTraining)")
	}
	saved := gemm.Threads()
	defer gemm.SetThreads(saved)
	for si, s := range directSpecs {
		m := mustBuild(t, s, uint64(si+1))
		direct := 0
		for _, l := range m.layers {
			if c, ok := l.(*conv2d); ok && c.direct != nil {
				direct++
			}
		}
		if want := map[int]int{5: 1}[si]; direct == 0 || (want != 0 && direct != want) {
			t.Fatalf("spec %d: %d convs on the direct path", si, direct)
		}
		r := rand.New(rand.NewPCG(uint64(si), 9))
		for _, threads := range []int{1, 2} {
			gemm.SetThreads(threads)
			for _, n := range []int{1, 3, 37} {
				x := randData(r, n, m.InputSize(), 0)
				for round := range 2 {
					if round == 1 { // weights written in place, as an optimizer does
						p := m.Params()
						for i := range p {
							p[i] += 0.01 * float32(r.NormFloat64())
						}
					}
					want := append([]float32(nil), m.forward(x, n, true)...)
					got := m.Forward(x, n)
					if err := nearOutputs(got, want, 1e-5); err != nil {
						t.Fatalf("spec %d, %d threads, batch %d, round %d: %v", si, threads, n, round, err)
					}
				}
			}
		}
	}
}

// nearOutputs reports the first value of got farther from want than tol times
// (1 + the largest |want|), a bound on the rounding of sums in another order.
func nearOutputs(got, want []float32, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	scale := 1.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - float64(want[i])); !(d <= tol*scale) {
			return fmt.Errorf("value %d is %v, want %v (scale %.3g)", i, got[i], want[i], scale)
		}
	}
	return nil
}

// TestDirectConvIsUsed: the cnn preset runs both convs on the direct path
// with both pools fused into them, so that the equivalence test above is
// about the path Model.Forward really takes.
func TestDirectConvIsUsed(t *testing.T) {
	if !haveConvK {
		t.Skip("no AVX-512")
	}
	m := mustBuild(t, mustPreset(t, "cnn", PresetOptions{}), 1)
	x := randData(rand.New(rand.NewPCG(1, 2)), 2, m.InputSize(), 0)
	m.Forward(x, 2)
	var convs []*conv2d
	for i, l := range m.layers {
		switch l := l.(type) {
		case *conv2d:
			convs = append(convs, l)
			if l.direct == nil || l.direct.pool == nil || !l.wroteDirect(m.inputs[i+2]) {
				t.Fatalf("layer %d: not a direct conv with a fused pool", i)
			}
		case *maxpool:
			if len(l.y) != 0 {
				t.Fatalf("layer %d: the pool ran on its own", i)
			}
		}
	}
	if len(convs) != 2 || convs[0].direct.next != convs[1] || convs[1].direct.next != nil || convs[1].directSrc != convs[0] {
		t.Fatalf("the first conv should be chained to the second, the second write CHW for the dense layer")
	}
}

// TestFootprintInference: an inference pass is weighed without the im2col
// columns of the convs that take the direct path, and with them where
// they do not (no AVX-512, or a layer the tiles do not cover).
func TestFootprintInference(t *testing.T) {
	saved := haveConvK
	defer func() { haveConvK = saved }()
	s := mustPreset(t, "cnn", PresetOptions{})
	cols := 28*28*1*9 + 14*14*16*9
	for _, k := range []bool{false, true} {
		haveConvK = k
		f, err := s.Footprint()
		if err != nil {
			t.Fatal(err)
		}
		want := f.Activations
		if k {
			want -= cols
		}
		if f.Inference != want {
			t.Errorf("AVX-512 %v: inference %d values a sample, want %d (training %d)", k, f.Inference, want, f.Activations)
		}
	}
}

// TestDirectConvRandomShapes: seeded random stacks of one to three convs
// (1, 16 or 32 input channels, 1-50 filters, kernels 1-5, pads 0-2, odd
// sizes down to a single pixel), each with or without a max pool of a
// random window and stride, still match the training forward pass; half
// the one-channel stacks start like the cnn (16 filters, 2×2 pool: the
// pool in the tile).
func TestDirectConvRandomShapes(t *testing.T) {
	if !haveConvK {
		t.Skip("no AVX-512")
	}
	r := rand.New(rand.NewPCG(14, 16))
	built := 0
	for trial := 0; built < 60 && trial < 600; trial++ {
		c := []int{1, 16, 32}[r.IntN(3)]
		s := Spec{Input: []int{c, 1 + r.IntN(34), 1 + r.IntN(34)}}
		first := c == 1 && r.IntN(2) == 0 // the pool in the tile, as the cnn's first layer
		if first {
			s.Input[2] = 18 + r.IntN(17) // 7 or more pooled columns
		}
		for i := range 1 + r.IntN(3) {
			f := 1 + r.IntN(50)
			if r.IntN(2) == 0 {
				f = 16 * (1 + r.IntN(3)) // chainable
			}
			act := []string{"relu", ""}[r.IntN(2)]
			tile := i == 0 && first
			if tile {
				f = 16
			}
			s.Layers = append(s.Layers, LayerSpec{Type: "conv2d", Filters: f, Kernel: 1 + r.IntN(5), Pad: r.IntN(3), Activation: act})
			if tile {
				s.Layers = append(s.Layers, LayerSpec{Type: "maxpool2d", Pool: 2})
			} else if r.IntN(2) == 0 {
				pool := 1 + r.IntN(3)
				s.Layers = append(s.Layers, LayerSpec{Type: "maxpool2d", Pool: pool, Stride: 1 + r.IntN(pool)})
			}
		}
		s.Layers = append(s.Layers, LayerSpec{Type: "flatten"}, LayerSpec{Type: "dense", Units: 3})
		m, err := Build(s, uint64(trial))
		if err != nil {
			continue // a shape that shrinks to nothing
		}
		built++
		n := 1 + r.IntN(4)
		x := randData(r, n, m.InputSize(), 0)
		want := append([]float32(nil), m.forward(x, n, true)...)
		if err := nearOutputs(m.Forward(x, n), want, 1e-5); err != nil {
			t.Fatalf("trial %d, %+v, batch %d: %v", trial, s, n, err)
		}
	}
	if built < 60 {
		t.Fatalf("only %d of the random specs built", built)
	}
}
