package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// TestDenseSplitMatchesOneThread trains the same batch with the work of
// the dense layers split by input feature or rows and of the convolutions
// by samples (threads 2, 4 and 8) and not at all,
// and compares the loss, the logits, every gradient and the parameters after
// an Adam step. Splitting changes only the order of the partial sums, so the
// figures agree to float32 rounding. The specs cover a split first layer
// (no input gradient), a split layer that needs its input gradient, parts
// with no features left (257 inputs in 8 parts of whole cache lines: 48
// each, then 17, 0, 0), small layers split by rows (the mlp's second, and
// 5 rows each for threads 4) and a layer that does not split (more outputs
// than inputs).
func TestDenseSplitMatchesOneThread(t *testing.T) {
	specs := map[string]Spec{
		"mlp": mustPreset(t, "mlp", PresetOptions{}),
		"split-needs-dx": {Input: []int{100}, Layers: []LayerSpec{
			{Type: "dense", Units: 256, Activation: "tanh"}, {Type: "dense", Units: 16, Activation: "relu"}, {Type: "dense", Units: 5}}},
		"empty-part": {Input: []int{257}, Layers: []LayerSpec{
			{Type: "dense", Units: 257, Activation: "sigmoid"}, {Type: "dense", Units: 64, Activation: "relu"}, {Type: "dense", Units: 3}}},
		"cnn": mustPreset(t, "cnn", PresetOptions{}),
		"conv-tanh-stride": {Input: []int{2, 12, 12}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 8, Kernel: 3, Pad: 1, Activation: "relu"}, {Type: "maxpool2d", Pool: 2},
			{Type: "conv2d", Filters: 4, Kernel: 3, Stride: 2, Activation: "tanh"}, {Type: "flatten"},
			{Type: "dense", Units: 3}}},
		"rows-softmax": {Input: []int{300}, Layers: []LayerSpec{
			{Type: "dense", Units: 40, Activation: "softmax"}, {Type: "dense", Units: 30, Activation: "sigmoid"}, {Type: "dense", Units: 7}}},
	}
	const n = 64
	for name, s := range specs {
		for _, threads := range []int{2, 4, 8} {
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

// TestDenseSplitParts pins when a layer splits by feature (W's rows) and
// when by rows of the batch, and into how many parts.
func TestDenseSplitParts(t *testing.T) {
	defer gemm.SetThreads(gemm.Threads())
	for _, c := range []struct {
		in, out, rows, threads int
		byFeature, byRows      int
	}{
		{784, 128, 64, 2, 2, 1},  // the mlp's first layer
		{784, 128, 64, 1, 1, 1},  // one thread
		{784, 128, 1, 2, 1, 1},   // one row: too little work
		{1568, 128, 64, 2, 2, 1}, // the cnn's first dense layer
		{257, 64, 64, 8, 8, 1},   // 8 parts (the last two empty)
		{40, 16, 256, 8, 2, 8},   // by feature capped at in/16 (by rows wins)
		{100, 256, 64, 4, 1, 1},  // more outputs than inputs, too many weights: gemm splits it
		{128, 10, 64, 2, 1, 2},   // the mlp's second layer
		{128, 10, 24, 2, 1, 1},   // fewer than two parts of 16 rows
		{128, 10, 1000, 4, 4, 4}, // evaluation batches (by rows wins)
		{32, 1, 32, 2, 1, 1},     // the LSTM model's last layer: too little work
	} {
		gemm.SetThreads(c.threads)
		l := &dense{in: c.in, out: c.out}
		if f, r := l.splitParts(c.rows), l.rowParts(c.rows); f != c.byFeature || r != c.byRows {
			t.Errorf("in %d out %d rows %d threads %d: %d parts by feature, %d by rows; want %d and %d",
				c.in, c.out, c.rows, c.threads, f, r, c.byFeature, c.byRows)
		}
	}
}

// TestDenseSplitEmptyPartAddsNothing: a part left without features (257
// inputs in 8 parts) or rows must not add what its buffer held before.
func TestDenseSplitEmptyPartAddsNothing(t *testing.T) {
	saved := gemm.Threads()
	defer gemm.SetThreads(saved)
	gemm.SetThreads(8)
	m := mustBuild(t, Spec{Input: []int{257}, Layers: []LayerSpec{{Type: "dense", Units: 64}}}, 1)
	x := make([]float32, 64*257)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	want := append([]float32(nil), m.Forward(x, 64)...)
	l := m.layers[0].(*dense)
	if len(l.partials) != 7 {
		t.Fatalf("%d partial buffers after an 8-part forward, want 7", len(l.partials))
	}
	for _, p := range l.partials[5:] { // parts 6 and 7 have no features
		for i := range p {
			p[i] = float32(math.NaN()) // what an earlier, wider split might have left
		}
	}
	got := m.Forward(x, 64)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output %d: %v after the empty parts' buffers held NaNs, %v before", i, got[i], want[i])
		}
	}

	// By rows: 50 rows in 3 parts of whole cache lines are 32, 18 and 0.
	gemm.SetThreads(3)
	m = mustBuild(t, Spec{Input: []int{300}, Layers: []LayerSpec{{Type: "dense", Units: 30}}}, 1)
	x = make([]float32, 50*300)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	y := make([]float32, 50)
	m.TrainBatch(x, y, 50)
	wantGrads := append([]float32(nil), m.Grads()...)
	l = m.layers[0].(*dense)
	if len(l.dwParts) != 2 {
		t.Fatalf("%d partial weight gradients after a 3-part backward, want 2", len(l.dwParts))
	}
	for i := range l.dwParts[1] {
		l.dwParts[1][i] = float32(math.NaN())
	}
	m.TrainBatch(x, y, 50)
	for i, g := range m.Grads() {
		if g != wantGrads[i] {
			t.Fatalf("gradient %d: %v after the empty part's buffer held NaNs, %v before", i, g, wantGrads[i])
		}
	}
}

// TestConvSplitOddBatch: 50 samples in 3 parts of whole 16s are 32, 18 and
// none; the empty part must add nothing, the others the right samples.
func TestConvSplitOddBatch(t *testing.T) {
	defer gemm.SetThreads(gemm.Threads())
	s := Spec{Input: []int{1, 10, 10}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 4, Kernel: 3, Pad: 1, Activation: "relu"}, {Type: "flatten"}, {Type: "dense", Units: 3}}}
	const n = 50
	x := make([]float32, n*100)
	y := make([]float32, n)
	for i := range x {
		x[i] = float32(i%11)/5 - 1
	}
	for i := range y {
		y[i] = float32(i % 3)
	}
	grads := func(threads int) []float32 {
		gemm.SetThreads(threads)
		m := mustBuild(t, s, 2)
		m.TrainBatch(x, y, n)
		m.TrainBatch(x, y, n) // twice: stale partials must not leak in
		return append([]float32(nil), m.Grads()...)
	}
	one, three := grads(1), grads(3)
	for i := range one {
		if d := math.Abs(float64(one[i] - three[i])); d > 1e-4*math.Max(1, math.Abs(float64(one[i]))) {
			t.Fatalf("gradient %d: %v with one thread, %v with 3", i, one[i], three[i])
		}
	}
}

// TestLSTMSplitMatchesOneThread: the LSTM's recurrence split by rows gives
// the same bits as one thread (each row's arithmetic is the same in any
// range), for last-step and sequence outputs, with sequences of many
// lengths so that the ranges end at different steps.
func TestLSTMSplitMatchesOneThread(t *testing.T) {
	defer gemm.SetThreads(gemm.Threads())
	specs := map[string]Spec{
		"last": {Input: []int{20}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 30, Dim: 8}, {Type: "lstm", Units: 16}, {Type: "dense", Units: 1}}},
		"seq": {Input: []int{12}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: 30, Dim: 6}, {Type: "lstm", Units: 8, ReturnSequences: true},
			{Type: "lstm", Units: 5}, {Type: "dense", Units: 3}}},
	}
	const n = 40
	for name, s := range specs {
		steps := s.Input[0]
		r := rand.New(rand.NewPCG(4, 4))
		x := make([]float32, n*steps)
		for i := 0; i < n; i++ {
			L := 1 + r.IntN(steps) // post-padded with 0 after L tokens
			for j := 0; j < L; j++ {
				x[i*steps+j] = float32(1 + r.IntN(29))
			}
		}
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(i % 2)
		}
		full := make([]float32, len(x)) // every sequence full length
		for i := range full {
			full[i] = float32(1 + i%29)
		}
		run := func(threads int) []float32 {
			gemm.SetThreads(threads)
			m := mustBuild(t, s, 6)
			m.TrainBatch(full, y, n) // leaves every row's state in the buffers
			loss := m.TrainBatch(x, y, n)
			return append(append([]float32{loss}, m.Grads()...), m.Forward(x, n)...)
		}
		one := run(1)
		for _, threads := range []int{2, 3, 5} {
			got := run(threads)
			for i := range one {
				if math.Float32bits(one[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%s, %d threads: value %d (0 is the loss, then gradients, then outputs) is %v, one thread %v",
						name, threads, i, got[i], one[i])
				}
			}
		}
	}
}
