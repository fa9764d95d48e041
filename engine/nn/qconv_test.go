package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQConvFusedMatchesPlain: the fused conv+pool and the one-channel
// packing (quantFuse) give the same bits as the plain int8 layers, on the
// cnn and on odd shapes (one channel with a 5×5 stride-2 kernel, an
// overlapping 3×3 pool, tanh; three channels; a pool after a dropout).
func TestQConvFusedMatchesPlain(t *testing.T) {
	specs := map[string]Spec{
		"cnn": quantCases(t)["cnn"].s,
		"odd": quantCases(t)["odd"].s,
		"gray": {Input: []int{1, 13, 12}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 7, Kernel: 5, Stride: 2, Pad: 2, Activation: "tanh"},
			{Type: "maxpool2d", Pool: 3, Stride: 1},
			{Type: "conv2d", Filters: 16, Kernel: 2, Activation: "relu"},
			{Type: "maxpool2d", Pool: 2},
			{Type: "flatten"},
			{Type: "dense", Units: 5},
		}},
		"gray-k1": {Input: []int{1, 6, 6}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 17, Kernel: 1},
			{Type: "dropout", Rate: 0.5},
			{Type: "maxpool2d", Pool: 2},
			{Type: "flatten"},
			{Type: "dense", Units: 3},
		}},
	}
	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			m, err := Build(s, 5)
			if err != nil {
				t.Fatal(err)
			}
			fused, err := m.Quantize(QuantizeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			quantFuse = false
			plain, err := m.Quantize(QuantizeOptions{})
			quantFuse = true
			if err != nil {
				t.Fatal(err)
			}
			if name == "cnn" && len(fused.layers) != len(plain.layers)-2 {
				t.Fatalf("cnn: %d fused layers, %d plain: the pools were not fused", len(fused.layers), len(plain.layers))
			}
			r := rand.New(rand.NewPCG(9, 9))
			for _, n := range []int{1, 3} {
				x := make([]float32, n*m.InputSize())
				for i := range x {
					x[i] = r.Float32()*2 - 0.5
				}
				want := append([]float32(nil), plain.Forward(x, n)...)
				got := fused.Forward(x, n)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("batch %d: output %d = %v, plain layers %v", n, i, got[i], want[i])
					}
				}
			}
		})
	}
}
