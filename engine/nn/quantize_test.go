package nn

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// quantPresets are the networks the int8 form must handle, with inputs.
func quantCases(t *testing.T) map[string]struct {
	s Spec
	x func(r *rand.Rand, n int) []float32
} {
	t.Helper()
	img := func(size int) func(r *rand.Rand, n int) []float32 {
		return func(r *rand.Rand, n int) []float32 {
			x := make([]float32, n*size)
			for i := range x {
				x[i] = r.Float32()
			}
			return x
		}
	}
	ids := func(r *rand.Rand, n int) []float32 {
		x := make([]float32, n*20)
		for i := range x {
			if i%20 < 5+i/20%15 {
				x[i] = float32(1 + r.IntN(99))
			}
		}
		return x
	}
	out := map[string]struct {
		s Spec
		x func(r *rand.Rand, n int) []float32
	}{}
	for _, name := range []string{"mlp", "cnn", "lstm-text", "text-ngram"} {
		s, err := Preset(name, PresetOptions{Vocab: 100, MaxLen: 20})
		if err != nil {
			t.Fatal(err)
		}
		x := img(784)
		if strings.HasPrefix(name, "lstm") || strings.HasPrefix(name, "text") {
			x = ids
		}
		out[name] = struct {
			s Spec
			x func(r *rand.Rand, n int) []float32
		}{s, x}
	}
	// Pooled and bidirectional LSTMs.
	for name, l := range map[string]LayerSpec{
		"lstm-max":    {Type: "lstm", Units: 16, Pooling: "max"},
		"bilstm-mean": {Type: "lstm", Units: 16, Pooling: "mean", Bidirectional: true},
		"bilstm-last": {Type: "lstm", Units: 8, Bidirectional: true},
	} {
		s := Spec{Input: []int{20}, Layers: []LayerSpec{{Type: "embedding", Vocab: 100, Dim: 8}, l, {Type: "dense", Units: 3}}}
		out[name] = struct {
			s Spec
			x func(r *rand.Rand, n int) []float32
		}{s, ids}
	}
	// Odd shapes: stride 2, no padding, 3 channels, tanh, dense on a
	// feature map's last axis, softmax layer.
	odd := Spec{Input: []int{3, 9, 11}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 5, Kernel: 3, Stride: 2, Activation: "tanh"},
		{Type: "conv2d", Filters: 6, Kernel: 2, Pad: 1, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "dense", Units: 4},
		{Type: "flatten"},
		{Type: "dropout", Rate: 0.1},
		{Type: "dense", Units: 7, Activation: "sigmoid"},
		{Type: "dense", Units: 3},
		{Type: "softmax"},
	}}
	if err := odd.Validate(); err != nil {
		t.Fatal(err)
	}
	out["odd"] = struct {
		s Spec
		x func(r *rand.Rand, n int) []float32
	}{odd, img(3 * 9 * 11)}
	return out
}

// TestQuantizedCloseToFloat: on random weights the int8 outputs stay close
// to the float ones (relative to their spread), for every layer type, and
// a model rebuilt from its tensors (as a file loads it) and a clone give
// the same bits.
func TestQuantizedCloseToFloat(t *testing.T) {
	for name, c := range quantCases(t) {
		t.Run(name, func(t *testing.T) {
			m, err := Build(c.s, 7)
			if err != nil {
				t.Fatal(err)
			}
			// Non-zero biases, so that their path is checked too.
			for _, tn := range m.Tensors() {
				if strings.HasSuffix(tn.Name, "bias") {
					for i := range tn.Data {
						tn.Data[i] = float32(i%5) * 0.01
					}
				}
			}
			q, err := m.Quantize(QuantizeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !q.Quantized() || m.Quantized() || q.NumParams() != m.NumParams() {
				t.Fatalf("quantized %v/%v, params %d vs %d", q.Quantized(), m.Quantized(), q.NumParams(), m.NumParams())
			}
			r := rand.New(rand.NewPCG(1, 2))
			for _, n := range []int{1, 5, 64} {
				x := c.x(r, n)
				want := append([]float32(nil), m.Forward(x, n)...)
				got := append([]float32(nil), q.Forward(x, n)...)
				var spread, worst float64
				for i := range want {
					spread = max(spread, math.Abs(float64(want[i])))
					worst = max(worst, math.Abs(float64(got[i]-want[i])))
				}
				if worst > 0.05*spread+1e-3 {
					t.Errorf("batch %d: int8 off by %.4g, outputs up to %.4g", n, worst, spread)
				}
				re, err := BuildQuantized(q.Spec(), q.Tensors(), q.Int8Tensors(), QuantizeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, other := range []*Model{re, q.Clone()} {
					o := other.Forward(x, n)
					for i := range got {
						if math.Float32bits(o[i]) != math.Float32bits(got[i]) {
							t.Fatalf("rebuilt model differs at %d: %v vs %v", i, o[i], got[i])
						}
					}
				}
				// A sample's answer does not depend on its batch.
				if n > 1 {
					one := q.Clone().Forward(x[(n-1)*m.InputSize():], 1)
					for j := range one {
						if one[j] != got[(n-1)*m.OutputSize()+j] {
							t.Fatalf("last sample alone %v, in the batch %v", one, got[(n-1)*m.OutputSize():])
						}
					}
				}
			}
		})
	}
}

func TestQuantizedStatic(t *testing.T) {
	c := quantCases(t)["cnn"]
	m, _ := Build(c.s, 3)
	r := rand.New(rand.NewPCG(3, 3))
	x := c.x(r, 32)
	am := m.Calibrate(x, 32, 16)
	if len(am) != 7 || am[0] == 0 {
		t.Fatalf("calibration %v", am)
	}
	q, err := m.Quantize(QuantizeOptions{ActMax: am})
	if err != nil {
		t.Fatal(err)
	}
	want := m.Forward(x, 8)
	got := q.Forward(x, 8)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 0.05*math.Abs(float64(want[i]))+0.05 {
			t.Fatalf("static: output %d = %v, float %v", i, got[i], want[i])
		}
	}
	if len(q.ActMax()) != 7 {
		t.Fatal("ActMax lost")
	}
}

func TestBuildQuantizedRejects(t *testing.T) {
	s, _ := Preset("mlp", PresetOptions{})
	m, _ := Build(s, 1)
	q, _ := m.Quantize(QuantizeOptions{})
	f32, i8 := q.Tensors(), q.Int8Tensors()
	cases := map[string]func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor){
		"missing int8":  func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) { return f, i[1:] },
		"missing float": func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) { return f[1:], i },
		"extra": func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) {
			return append(f, Tensor{Name: "x", Shape: []int{1}, Data: []float32{1}}), i
		},
		"shape": func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) {
			i[0].Shape = []int{i[0].Shape[1], i[0].Shape[0]}
			return f, i
		},
		"-128": func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) {
			i[0].Data = append([]int8{-128}, i[0].Data[1:]...)
			return f, i
		},
		"negative scale": func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) {
			for k := range f {
				if strings.HasSuffix(f[k].Name, ".scale") {
					f[k].Data = append([]float32{-1}, f[k].Data[1:]...)
				}
			}
			return f, i
		},
		"NaN bias": func(f []Tensor, i []Int8Tensor) ([]Tensor, []Int8Tensor) {
			for k := range f {
				if strings.HasSuffix(f[k].Name, "bias") {
					f[k].Data = append([]float32{float32(math.NaN())}, f[k].Data[1:]...)
				}
			}
			return f, i
		},
	}
	for name, mut := range cases {
		f := append([]Tensor(nil), f32...)
		i := append([]Int8Tensor(nil), i8...)
		f, i = mut(f, i)
		if _, err := BuildQuantized(s, f, i, QuantizeOptions{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := BuildQuantized(s, f32, i8, QuantizeOptions{ActMax: []float32{1}}); err == nil {
		t.Error("wrong ActMax length accepted")
	}
	if err := q.SetParams(make([]float32, q.NumParams())); err == nil {
		t.Error("SetParams on an int8 model accepted")
	}
}
