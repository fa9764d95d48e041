package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func mustBuild(t testing.TB, s Spec, seed uint64) *Model {
	t.Helper()
	m, err := Build(s, seed)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return m
}

func mustPreset(t testing.TB, name string, o PresetOptions) Spec {
	t.Helper()
	s, err := Preset(name, o)
	if err != nil {
		t.Fatalf("Preset(%s): %v", name, err)
	}
	return s
}

func mustOpt(t testing.TB, c OptimizerConfig, n int) Optimizer {
	t.Helper()
	o, err := NewOptimizer(c, n)
	if err != nil {
		t.Fatalf("NewOptimizer: %v", err)
	}
	return o
}

// xorData: 4 points, label = a XOR b.
var xorX = []float32{0, 0, 0, 1, 1, 0, 1, 1}
var xorY = []float32{0, 1, 1, 0}

func TestXORLearns(t *testing.T) {
	cases := []struct {
		name string
		spec Spec
		opt  OptimizerConfig
	}{
		{"dense-tanh-bce-adam", Spec{Input: []int{2}, Layers: []LayerSpec{{Type: "dense", Units: 8, Activation: "tanh"}, {Type: "dense", Units: 1}}},
			OptimizerConfig{Name: "adam", LR: 0.05}},
		{"dense-relu-softmax-sgd-nesterov", Spec{Input: []int{2}, Layers: []LayerSpec{{Type: "dense", Units: 16, Activation: "relu"}, {Type: "dense", Units: 2}}},
			OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.9, Nesterov: true}},
		{"dense-sigmoid-layer-adamw", Spec{Input: []int{2}, Layers: []LayerSpec{{Type: "dense", Units: 8}, {Type: "sigmoid"}, {Type: "dense", Units: 2}}},
			OptimizerConfig{Name: "adamw", LR: 0.05}},
		{"dense-relu-dropout-keras-sigmoid", Spec{Input: []int{2}, Layers: []LayerSpec{{Type: "dense", Units: 32, Activation: "relu"}, {Type: "dropout", Rate: 0.1}, {Type: "dense", Units: 1, Activation: "sigmoid"}}},
			OptimizerConfig{Name: "adam", LR: 0.03}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mustBuild(t, c.spec, 3)
			o := mustOpt(t, c.opt, m.NumParams())
			first := m.TrainBatch(xorX, xorY, 4)
			var last float32
			for range 1500 {
				last = m.TrainBatch(xorX, xorY, 4)
				o.Step(m.Params(), m.Grads())
			}
			loss, acc := m.Evaluate(xorX, xorY, 4, 4)
			if !(last < first/10) || acc != 1 {
				t.Fatalf("loss %v -> %v (eval %v), accuracy %v: did not learn XOR", first, last, loss, acc)
			}
		})
	}
}

func trainSteps(t testing.TB, s Spec, seed uint64, x, y []float32, n, steps int) *Model {
	m := mustBuild(t, s, seed)
	o := mustOpt(t, OptimizerConfig{Name: "adam"}, m.NumParams())
	for range steps {
		m.TrainBatch(x, y, n)
		o.Step(m.Params(), m.Grads())
	}
	return m
}

func randData(r *rand.Rand, n, size int, vocab int) []float32 {
	x := make([]float32, n*size)
	for i := range x {
		if vocab > 0 {
			x[i] = float32(r.IntN(vocab))
		} else {
			x[i] = r.Float32()
		}
	}
	return x
}

func TestReproducible(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	specs := map[string]Spec{
		"mlp":      mustPreset(t, "mlp", PresetOptions{}),
		"textlstm": mustPreset(t, "lstm-text", PresetOptions{Vocab: 50, MaxLen: 12}),
		"dropout": {Input: []int{20}, Layers: []LayerSpec{{Type: "dense", Units: 16, Activation: "relu"},
			{Type: "dropout", Rate: 0.3}, {Type: "dense", Units: 3}}},
	}
	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			n := 8
			vocab := 0
			if s.Layers[0].Type == "embedding" {
				vocab = s.Layers[0].Vocab
			}
			x := randData(r, n, prod(s.Input), vocab)
			y := make([]float32, n)
			for i := range y {
				y[i] = float32(i % 2)
			}
			a := trainSteps(t, s, 42, x, y, n, 5)
			b := trainSteps(t, s, 42, x, y, n, 5)
			c := trainSteps(t, s, 43, x, y, n, 5)
			same := func(p, q []float32) bool {
				for i := range p {
					if math.Float32bits(p[i]) != math.Float32bits(q[i]) {
						return false
					}
				}
				return true
			}
			if !same(a.Params(), b.Params()) {
				t.Fatal("same seed gave different parameters")
			}
			if same(a.Params(), c.Params()) {
				t.Fatal("different seeds gave the same parameters")
			}
		})
	}
}

func TestParamsAlias(t *testing.T) {
	m := mustBuild(t, mustPreset(t, "mlp", PresetOptions{}), 1)
	x := randData(rand.New(rand.NewPCG(3, 4)), 2, 784, 0)
	before := append([]float32(nil), m.Forward(x, 2)...)
	p := m.Params()
	// The last parameters are the output bias: adding 1 shifts every logit by 1.
	for i := len(p) - 10; i < len(p); i++ {
		p[i] += 1
	}
	after := m.Forward(x, 2)
	for i := range after {
		if d := after[i] - before[i]; math.Abs(float64(d-1)) > 1e-5 {
			t.Fatalf("logit %d moved by %v after writing Params, want 1", i, d)
		}
	}
	// Tensors alias Params too.
	ts := m.Tensors()
	ts[0].Data[0] = 12345
	if p[0] != 12345 {
		t.Fatal("Tensors()[0] does not alias Params()")
	}
	total := 0
	for _, tt := range ts {
		if prod(tt.Shape) != len(tt.Data) {
			t.Fatalf("tensor %s: shape %v but %d values", tt.Name, tt.Shape, len(tt.Data))
		}
		total += len(tt.Data)
	}
	if total != m.NumParams() || m.NumParams() != 784*128+128+128*10+10 {
		t.Fatalf("tensors cover %d of %d params", total, m.NumParams())
	}
}

func TestCloneAndSetParams(t *testing.T) {
	m := mustBuild(t, mustPreset(t, "lstm-text", PresetOptions{Vocab: 30, MaxLen: 6}), 7)
	c := m.Clone()
	x := []float32{3, 4, 5, 0, 0, 0, 9, 1, 2, 3, 4, 5}
	a := append([]float32(nil), m.Forward(x, 2)...)
	b := c.Forward(x, 2)
	if a[0] != b[0] || a[1] != b[1] {
		t.Fatalf("clone computes %v, original %v", b, a)
	}
	c.Params()[0] += 1
	if m.Params()[0] == c.Params()[0] {
		t.Fatal("clone shares parameters with the original")
	}
	if err := m.SetParams(c.Params()); err != nil || m.Params()[0] != c.Params()[0] {
		t.Fatalf("SetParams: %v", err)
	}
	if err := m.SetParams(make([]float32, 3)); err == nil {
		t.Fatal("SetParams accepted the wrong length")
	}
}
