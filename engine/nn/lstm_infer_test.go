package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// paddedTexts returns n texts of up to T token ids in 1..vocab-1, post-
// padded with 0, of random lengths 0..T (an empty text counts as length 1),
// one of them with a padding id inside it too.
func paddedTexts(r *rand.Rand, n, T, vocab int) []float32 {
	x := make([]float32, n*T)
	for i := 0; i < n; i++ {
		L := r.IntN(T + 1)
		if i == 0 {
			L = T // the batch's longest runs all steps
		}
		for t := 0; t < L; t++ {
			x[i*T+t] = float32(1 + r.IntN(vocab-1))
		}
		if i == 1 && L > 2 {
			x[i*T+1] = 0
		}
	}
	return x
}

// TestInferenceMatchesTrainingLSTM: the inference pass (lstm_infer.go,
// its own kernel and activations) gives the training forward pass's
// outputs within float tolerance, on padded variable-length batches, for
// every pooling and both directions, for unit counts that take each of
// the kernel's paths (one, two and three blocks of 16 units, rows in
// blocks of four and alone), inputs of odd width, an LSTM fed by another
// LSTM's sequences, and under one and two threads (where it must also
// keep the same bits).
func TestInferenceMatchesTrainingLSTM(t *testing.T) {
	if !haveAVX512 {
		t.Log("no AVX-512: Forward takes the training pass, so this compares it with itself")
	}
	defer gemm.SetThreads(gemm.Threads())
	const T, V = 13, 50
	type variant struct {
		name string
		spec Spec
	}
	var vs []variant
	for _, pool := range []string{"last", "mean", "max"} {
		for _, bi := range []bool{false, true} {
			for _, shape := range [][2]int{{7, 16}, {32, 32}, {5, 48}} {
				vs = append(vs, variant{fmt.Sprintf("%s-bi=%v-in%d-units%d", pool, bi, shape[0], shape[1]), Spec{Input: []int{T}, Layers: []LayerSpec{
					{Type: "embedding", Vocab: V, Dim: shape[0]},
					{Type: "lstm", Units: shape[1], Pooling: pool, Bidirectional: bi},
					{Type: "dense", Units: 3}}}})
			}
		}
	}
	vs = append(vs, variant{"sequences", Spec{Input: []int{T}, Layers: []LayerSpec{
		{Type: "embedding", Vocab: V, Dim: 8},
		{Type: "lstm", Units: 32, ReturnSequences: true},
		{Type: "lstm", Units: 16, Pooling: "mean"},
		{Type: "dense", Units: 1}}}})
	vs = append(vs, variant{"lstm-text", mustPreset(t, "lstm-text", PresetOptions{Vocab: V, MaxLen: T})})
	vs = append(vs, variant{"wide", Spec{Input: []int{T}, Layers: []LayerSpec{ // strides of 2 KB per W row
		{Type: "embedding", Vocab: V, Dim: 100},
		{Type: "lstm", Units: 128, Pooling: "mean"},
		{Type: "dense", Units: 2}}}})
	// Fed floats, not tokens: no lengths, every sample runs all steps.
	vs = append(vs, variant{"float-input", Spec{Input: []int{T, 5}, Layers: []LayerSpec{
		{Type: "lstm", Units: 32, Pooling: "max", Bidirectional: true},
		{Type: "dense", Units: 2}}}})
	worst := 0.0
	for _, v := range vs {
		for _, scaled := range []bool{false, true} {
			m := mustBuild(t, v.spec, 1)
			if scaled {
				randomize(m, 2) // N(0, 0.5) weights: saturated gates, exp's clamps
			}
			for _, n := range []int{1, 2, 6, 9, 21} {
				x := paddedTexts(rand.New(rand.NewPCG(uint64(n), 3)), n, T, V)
				if v.spec.Layers[0].Type != "embedding" {
					x = uniform(rand.New(rand.NewPCG(uint64(n), 4)), n*m.InputSize())
				}
				var one []float32
				for _, threads := range []int{1, 2} {
					gemm.SetThreads(threads)
					train := append([]float32(nil), m.forward(x, n, true)...)
					got := m.Forward(x, n)
					for i, w := range train {
						d := math.Abs(float64(got[i]) - float64(w))
						worst = max(worst, d/(1+math.Abs(float64(w))))
						if d > 2e-5*(1+math.Abs(float64(w))) {
							t.Fatalf("%s, scaled %v, batch %d, %d threads: output %d is %v in inference, %v in training", v.name, scaled, n, threads, i, got[i], w)
						}
					}
					if one == nil {
						one = append([]float32(nil), got...)
						continue
					}
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(one[i]) {
							t.Fatalf("%s, batch %d: output %d is %v under 2 threads, %v under one", v.name, n, i, got[i], one[i])
						}
					}
				}
			}
		}
	}
	t.Logf("largest difference, relative to 1+|training|: %.2g", worst)
}

// TestInferenceKeepsNoTrainingBuffers: a model that only infers never
// allocates the LSTM's per-step buffers (gates, states, tanh(c), the
// time-major input), nor its embedding's output.
func TestInferenceKeepsNoTrainingBuffers(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512: Forward takes the training pass")
	}
	m := mustBuild(t, mustPreset(t, "lstm-text", PresetOptions{Vocab: 100, MaxLen: 20, Directions: 2}), 1)
	m.Forward(paddedTexts(rand.New(rand.NewPCG(1, 1)), 9, 20, 100), 9)
	if e := m.layers[0].(*embedding); e.y != nil || e.tokens != nil {
		t.Fatalf("the embedding feeding the LSTM kept %d output floats and %d tokens", len(e.y), len(e.tokens))
	}
	for _, ly := range m.layers {
		l, ok := ly.(*lstm)
		if !ok {
			continue
		}
		for _, d := range []*lstm{l, l.rev} {
			if d.z != nil || d.hs != nil || d.cs != nil || d.tc != nil || d.xt != nil {
				t.Fatalf("inference allocated training buffers: z %d, hs %d, cs %d, tc %d, xt %d floats", len(d.z), len(d.hs), len(d.cs), len(d.tc), len(d.xt))
			}
			if len(d.inf.c) != 9*d.units || len(d.inf.h[0]) != 9*d.units {
				t.Fatalf("inference state holds %d and %d floats, want one row of %d per sample", len(d.inf.c), len(d.inf.h[0]), d.units)
			}
		}
	}
}

// TestCalibrateSeesFusedEmbedding: where the inference pass reads an
// embedding's table itself, Calibrate still sees the embedding's output
// as the LSTM's input (its largest magnitude, for a static int8 model).
func TestCalibrateSeesFusedEmbedding(t *testing.T) {
	m := mustBuild(t, mustPreset(t, "lstm-text", PresetOptions{Vocab: 30, MaxLen: 8}), 1)
	x := paddedTexts(rand.New(rand.NewPCG(2, 2)), 5, 8, 30)
	emb := m.layers[0].(*embedding)
	want := float32(0)
	for _, v := range x {
		if id := emb.id(v); id >= 0 {
			for _, w := range emb.w[id*emb.dim : (id+1)*emb.dim] {
				want = max(want, float32(math.Abs(float64(w))))
			}
		}
	}
	if got := m.Calibrate(x, 5, 2)[1]; got != want || want == 0 {
		t.Fatalf("Calibrate: the LSTM's input reaches %v, its embedding rows %v", got, want)
	}
	m.Forward(x, 5)
	if haveAVX512 && m.inputs[1] != nil {
		t.Fatalf("Forward after Calibrate still wrote the embedding's output (%d floats)", len(m.inputs[1]))
	}
}
