package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// TestDenseSplitMatchesOneThread trains the same batch with the work of
// the dense layers split by input feature (threads 2 and 4) and not at all,
// and compares the loss, the logits, every gradient and the parameters after
// an Adam step. Splitting changes only the order of the partial sums, so the
// figures agree to float32 rounding. The specs cover a split first layer
// (no input gradient), a split layer that needs its input gradient, a part
// with no features left (65 inputs in 4 parts of whole cache lines: 32, 32,
// 1, 0) and a layer that does not split (more outputs than inputs).
func TestDenseSplitMatchesOneThread(t *testing.T) {
	specs := map[string]Spec{
		"mlp": mustPreset(t, "mlp", PresetOptions{}),
		"split-needs-dx": {Input: []int{100}, Layers: []LayerSpec{
			{Type: "dense", Units: 256, Activation: "tanh"}, {Type: "dense", Units: 16, Activation: "relu"}, {Type: "dense", Units: 5}}},
		"empty-part": {Input: []int{65}, Layers: []LayerSpec{
			{Type: "dense", Units: 65, Activation: "sigmoid"}, {Type: "dense", Units: 32, Activation: "relu"}, {Type: "dense", Units: 3}}},
	}
	const n = 64
	for name, s := range specs {
		for _, threads := range []int{2, 4} {
			t.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(t *testing.T) {
				one := mustBuild(t, s, 3)
				r := rand.New(rand.NewPCG(9, 9))
				x := make([]float32, n*one.InputSize())
				for i := range x {
					x[i] = r.Float32()*2 - 1
				}
				y := make([]float32, n)
				for i := range y {
					y[i] = float32(r.IntN(max(one.OutputSize(), 2)))
				}
				step := func(m *Model, th int) (float32, []float32) {
					saved := gemm.Threads()
					gemm.SetThreads(th)
					defer gemm.SetThreads(saved)
					loss := m.TrainBatch(x, y, n)
					logits := append([]float32(nil), m.Forward(x, n)...)
					o := mustOpt(t, OptimizerConfig{Name: "adam"}, m.NumParams())
					grads := append([]float32(nil), m.Grads()...)
					o.Step(m.Params(), m.Grads())
					return loss, append(logits, grads...)
				}
				split := one.Clone()
				l1, v1 := step(one, 1)
				ln, vn := step(split, threads)
				if math.Abs(float64(l1-ln)) > 1e-5*math.Abs(float64(l1)) {
					t.Fatalf("loss %v with one thread, %v with %d", l1, ln, threads)
				}
				for i := range v1 {
					if d := math.Abs(float64(v1[i] - vn[i])); d > 1e-4*math.Max(1, math.Abs(float64(v1[i]))) {
						t.Fatalf("logit/gradient %d: %v with one thread, %v with %d", i, v1[i], vn[i], threads)
					}
				}
				for i, p := range one.Params() {
					if d := math.Abs(float64(p - split.Params()[i])); d > 1e-5 {
						t.Fatalf("param %d after a step: %v with one thread, %v with %d", i, p, split.Params()[i], threads)
					}
				}
			})
		}
	}
}

// TestDenseSplitParts pins when a layer splits: enough work, more inputs
// than twice the outputs, and at most one part per 16 inputs.
func TestDenseSplitParts(t *testing.T) {
	saved := gemm.Threads()
	defer gemm.SetThreads(saved)
	for _, c := range []struct {
		in, out, rows, threads, want int
	}{
		{784, 128, 64, 2, 2},  // the mlp's first layer
		{784, 128, 64, 1, 1},  // one thread
		{128, 10, 64, 2, 1},   // the mlp's second: too little work
		{100, 256, 64, 4, 1},  // more outputs than inputs: gemm splits it
		{65, 32, 64, 4, 4},    // 4 parts (the last empty)
		{40, 16, 256, 8, 2},   // capped at in/16
		{784, 128, 1, 2, 1},   // one row: too little work
		{1568, 128, 64, 2, 2}, // the cnn's first dense layer
	} {
		gemm.SetThreads(c.threads)
		l := &dense{in: c.in, out: c.out}
		if got := l.splitParts(c.rows); got != c.want {
			t.Errorf("in %d out %d rows %d threads %d: %d parts, want %d", c.in, c.out, c.rows, c.threads, got, c.want)
		}
	}
}

// TestDenseSplitEmptyPartAddsNothing: a part left without features (65
// inputs in 4 parts) must not add what its partial buffer held before.
func TestDenseSplitEmptyPartAddsNothing(t *testing.T) {
	saved := gemm.Threads()
	defer gemm.SetThreads(saved)
	gemm.SetThreads(4)
	m := mustBuild(t, Spec{Input: []int{65}, Layers: []LayerSpec{{Type: "dense", Units: 32}}}, 1)
	x := make([]float32, 64*65)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	want := append([]float32(nil), m.Forward(x, 64)...)
	l := m.layers[0].(*dense)
	if len(l.partials) != 3 {
		t.Fatalf("%d partial buffers after a 4-part forward, want 3", len(l.partials))
	}
	for i := range l.partials[2] {
		l.partials[2][i] = float32(math.NaN()) // what an earlier, wider split might have left
	}
	got := m.Forward(x, 64)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output %d: %v after the empty part's buffer held NaNs, %v before", i, got[i], want[i])
		}
	}
}
