package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// refLSTMStates runs a textbook LSTM in float64 over the given inputs
// (one per step) and returns h after every step.
func refLSTMStates(in [][]float64, W, U, B []float32, D, H int) [][]float64 {
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	h := make([]float64, H)
	c := make([]float64, H)
	var out [][]float64
	for _, x := range in {
		z := make([]float64, 4*H)
		for g := range z {
			z[g] = float64(B[g])
			for j := 0; j < D; j++ {
				z[g] += x[j] * float64(W[j*4*H+g])
			}
			for j := 0; j < H; j++ {
				z[g] += h[j] * float64(U[j*4*H+g])
			}
		}
		next := make([]float64, H)
		for j := 0; j < H; j++ {
			ig, fg, gg, og := sig(z[j]), sig(z[H+j]), math.Tanh(z[2*H+j]), sig(z[3*H+j])
			c[j] = fg*c[j] + ig*gg
			next[j] = og * math.Tanh(c[j])
		}
		h = next
		out = append(out, h)
	}
	return out
}

func refPool(hs [][]float64, pool string) []float64 {
	H := len(hs[0])
	y := make([]float64, H)
	switch pool {
	case "", "last":
		copy(y, hs[len(hs)-1])
	case "mean":
		for _, h := range hs {
			for j, v := range h {
				y[j] += v / float64(len(hs))
			}
		}
	case "max":
		copy(y, hs[0])
		for _, h := range hs[1:] {
			for j, v := range h {
				y[j] = math.Max(y[j], v)
			}
		}
	}
	return y
}

// TestLSTMPoolingReference compares the pooled and bidirectional outputs
// with a float64 LSTM run over each sample's real steps alone: padding is
// never read, in either direction, and never pooled.
func TestLSTMPoolingReference(t *testing.T) {
	const T, D, H, V = 6, 3, 4, 12
	rows := [][]int{{5, 3, 11, 2, 7, 1}, {4, 9}, {}, {6, 6, 6, 1}, {8}}
	x := seqIDs(rows, T)
	for _, pool := range []string{"last", "mean", "max"} {
		for _, bi := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s-bi=%v", pool, bi), func(t *testing.T) {
				s := Spec{Input: []int{T}, Layers: []LayerSpec{
					{Type: "embedding", Vocab: V, Dim: D}, {Type: "lstm", Units: H, Pooling: pool, Bidirectional: bi}, {Type: "dense", Units: 2}}}
				m := mustBuild(t, s, 1)
				randomize(m, 4)
				emb := tensor(t, m, "layers.0.embedding.weight")
				clear(emb[:D])
				dw := tensor(t, m, "layers.2.dense.kernel")
				db := tensor(t, m, "layers.2.dense.bias")
				width := H
				if bi {
					width = 2 * H
				}
				var want []float64
				for _, r := range rows {
					var in [][]float64
					for t := 0; t < max(len(r), 1); t++ {
						v := make([]float64, D) // an empty text is one padding step
						if t < len(r) {
							for j := range v {
								v[j] = float64(emb[r[t]*D+j])
							}
						}
						in = append(in, v)
					}
					feat := refPool(refLSTMStates(in, tensor(t, m, "layers.1.lstm.kernel"), tensor(t, m, "layers.1.lstm.recurrent"),
						tensor(t, m, "layers.1.lstm.bias"), D, H), pool)
					if bi {
						rin := make([][]float64, len(in))
						for k := range in {
							rin[k] = in[len(in)-1-k]
						}
						feat = append(feat, refPool(refLSTMStates(rin, tensor(t, m, "layers.1.lstm.reverse.kernel"),
							tensor(t, m, "layers.1.lstm.reverse.recurrent"), tensor(t, m, "layers.1.lstm.reverse.bias"), D, H), pool)...)
					}
					for k := 0; k < 2; k++ {
						o := float64(db[k])
						for j := 0; j < width; j++ {
							o += feat[j] * float64(dw[j*2+k])
						}
						want = append(want, o)
					}
				}
				closeTo(t, "logits", m.Forward(x, len(rows)), want, 2e-5)
				// Alone, a sample gives the same answer as in its batch.
				closeTo(t, "sample 1 alone", m.Forward(x[T:2*T], 1), want[2:4], 2e-5)
			})
		}
	}
}

func TestLSTMSpecOptions(t *testing.T) {
	base := func(l LayerSpec) Spec {
		return Spec{Input: []int{5}, Layers: []LayerSpec{{Type: "embedding", Vocab: 9, Dim: 2}, l, {Type: "dense", Units: 1}}}
	}
	bad := map[string]LayerSpec{
		"unknown pooling":       {Type: "lstm", Units: 3, Pooling: "sum"},
		"pooling on sequences":  {Type: "lstm", Units: 3, Pooling: "mean", ReturnSequences: true},
		"bidirectional on seqs": {Type: "lstm", Units: 3, Bidirectional: true, ReturnSequences: true},
		"pooling on dense":      {Type: "dense", Units: 3, Pooling: "max"},
		"bidirectional dense":   {Type: "dense", Units: 3, Bidirectional: true},
	}
	for name, l := range bad {
		s := base(l)
		if l.ReturnSequences {
			s.Layers = append(s.Layers[:2], LayerSpec{Type: "flatten"}, LayerSpec{Type: "dense", Units: 1})
		}
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), "pooling") && !strings.Contains(err.Error(), "bidirectional") {
			t.Errorf("%s: error %q names neither option", name, err)
		}
	}
	// Bidirectional doubles the output and the parameters.
	one, two := base(LayerSpec{Type: "lstm", Units: 3}), base(LayerSpec{Type: "lstm", Units: 3, Bidirectional: true, Pooling: "max"})
	m1, m2 := mustBuild(t, one, 1), mustBuild(t, two, 1)
	lstmParams := 4*3*(2+3) + 4*3
	if got := m2.NumParams() - m1.NumParams(); got != lstmParams+3 { // the dense layer takes 3 more inputs
		t.Errorf("bidirectional adds %d parameters, want %d", got, lstmParams+3)
	}
	f1, _ := one.Footprint()
	f2, _ := two.Footprint()
	if f2.Params != m2.NumParams() || f2.Activations <= f1.Activations {
		t.Errorf("footprint %+v vs %+v (params %d)", f2, f1, m2.NumParams())
	}
	// The spec of an old file (no pooling, no bidirectional) parses to
	// last-step pooling, one direction; a new spec round-trips its options.
	old, err := ParseSpec([]byte(`{"input":[5],"layers":[{"type":"embedding","vocab":9,"dim":2},{"type":"lstm","units":3},{"type":"dense","units":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	l := mustBuild(t, old, 1).layers[1].(*lstm)
	if l.pool != poolLast || l.rev != nil {
		t.Errorf("old spec built pool %v, reverse %v", l.pool, l.rev != nil)
	}
	y, err := ParseSpec([]byte("input: [5]\nlayers:\n- {type: embedding, vocab: 9, dim: 2}\n- {type: lstm, units: 3, pooling: mean, bidirectional: true}\n- {type: dense, units: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if y.Layers[1].Pooling != "mean" || !y.Layers[1].Bidirectional {
		t.Errorf("YAML options lost: %+v", y.Layers[1])
	}
}

func TestPresetLSTMOptions(t *testing.T) {
	s, err := Preset("lstm-text", PresetOptions{Vocab: 50, MaxLen: 8, Pooling: "max", Directions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Layers[1]; l.Pooling != "max" || !l.Bidirectional {
		t.Errorf("lstm layer %+v, want max pooling, bidirectional", l)
	}
	def, _ := Preset("lstm-text", PresetOptions{Vocab: 50, MaxLen: 8})
	one, _ := Preset("lstm-text", PresetOptions{Vocab: 50, MaxLen: 8, Directions: 1, Pooling: "last"})
	if one.Layers[1].Bidirectional || parsePool(one.Layers[1].Pooling) != poolLast || def.Layers[1].Units != one.Layers[1].Units {
		t.Errorf("directions 1, pooling last gave %+v", one.Layers[1])
	}
	for name, o := range map[string]PresetOptions{
		"text-ngram pooling":     {Vocab: 50, MaxLen: 8, Pooling: "mean"},
		"mlp directions":         {Directions: 2},
		"lstm-text 3 directions": {Vocab: 50, MaxLen: 8, Directions: 3},
		"lstm-text bad pooling":  {Vocab: 50, MaxLen: 8, Pooling: "median"},
	} {
		preset := strings.Fields(name)[0]
		if _, err := Preset(preset, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestLSTMPoolingSplitMatchesOneThread: pooled and bidirectional LSTMs
// split by rows under --threads give the bits of one thread.
func TestLSTMPoolingSplitMatchesOneThread(t *testing.T) {
	defer gemm.SetThreads(gemm.Threads())
	const n, steps = 40, 20
	r := rand.New(rand.NewPCG(4, 5))
	x := make([]float32, n*steps)
	for i := 0; i < n; i++ {
		L := 1 + r.IntN(steps)
		for j := 0; j < L; j++ {
			x[i*steps+j] = float32(1 + r.IntN(29))
		}
	}
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(i % 3)
	}
	for _, l := range []LayerSpec{
		{Type: "lstm", Units: 16, Pooling: "mean"},
		{Type: "lstm", Units: 16, Pooling: "max", Bidirectional: true},
		{Type: "lstm", Units: 8, Bidirectional: true},
	} {
		s := Spec{Input: []int{steps}, Layers: []LayerSpec{{Type: "embedding", Vocab: 30, Dim: 8}, l, {Type: "dense", Units: 3}}}
		run := func(threads int) []float32 {
			gemm.SetThreads(threads)
			m := mustBuild(t, s, 6)
			loss := m.TrainBatch(x, y, n)
			return append(append([]float32{loss}, m.Grads()...), m.Forward(x, n)...)
		}
		one := run(1)
		for _, threads := range []int{2, 3} {
			got := run(threads)
			for i := range one {
				if math.Float32bits(one[i]) != math.Float32bits(got[i]) {
					t.Fatalf("%+v, %d threads: value %d is %v, one thread %v", l, threads, i, got[i], one[i])
				}
			}
		}
	}
}

// TestLSTMCellKernel: the AVX2 gate kernel gives the Go loop's bits, on
// gate inputs from tiny to saturating.
func TestLSTMCellKernel(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(8, 9))
	for _, H := range []int{8, 32, 48} {
		for _, spread := range []float32{0.01, 1, 8, 200} {
			z := make([]float32, 4*H)
			b := make([]float32, 4*H)
			cp := make([]float32, H)
			for i := range z {
				z[i], b[i] = spread*(2*r.Float32()-1), 2*r.Float32()-1
			}
			for i := range cp {
				cp[i] = spread * (2*r.Float32() - 1)
			}
			z2 := append([]float32(nil), z...)
			var out [2][3][]float32
			for k := range out {
				for q := range out[k] {
					out[k][q] = make([]float32, H)
				}
			}
			z512 := append([]float32(nil), z...)
			lstmCellAVX2(&z[0], &b[0], &cp[0], &out[0][0][0], &out[0][1][0], &out[0][2][0], H)
			lstmCellGo(z2, b, cp, out[1][0], out[1][1], out[1][2])
			if haveAVX512 && H%16 == 0 {
				var o [3][]float32
				for q := range o {
					o[q] = make([]float32, H)
				}
				lstmCellAVX512(&z512[0], &b[0], &cp[0], &o[0][0], &o[1][0], &o[2][0], H)
				for q := range o {
					for i := range o[q] {
						if math.Float32bits(o[q][i]) != math.Float32bits(out[1][q][i]) {
							t.Fatalf("AVX-512, H %d spread %v: output %d[%d] is %v, Go %v", H, spread, q, i, o[q][i], out[1][q][i])
						}
					}
				}
				for i := range z512 {
					if math.Float32bits(z512[i]) != math.Float32bits(z2[i]) {
						t.Fatalf("AVX-512, H %d spread %v: gate %d is %v, Go %v", H, spread, i, z512[i], z2[i])
					}
				}
			}
			for i := range z {
				if math.Float32bits(z[i]) != math.Float32bits(z2[i]) {
					t.Fatalf("H %d spread %v: gate %d is %v, Go %v", H, spread, i, z[i], z2[i])
				}
			}
			for q, name := range []string{"c", "h", "tanh c"} {
				for i := 0; i < H; i++ {
					if math.Float32bits(out[0][q][i]) != math.Float32bits(out[1][q][i]) {
						t.Fatalf("H %d spread %v: %s[%d] is %v, Go %v", H, spread, name, i, out[0][q][i], out[1][q][i])
					}
				}
			}
		}
	}
}

// TestLSTMRowWiseRecurrence: small batches take h·U row by row
// (lstmRecAVX2), larger ones a GEMM; both give a sample the same answer
// within float32 rounding, and the kernel matches a float64 product.
func TestLSTMRowWiseRecurrence(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(3, 7))
	const k, cols = 32, 128
	h, u, z := uniform(r, k), uniform(r, k*cols), uniform(r, cols)
	want := make([]float64, cols)
	for j := range want {
		want[j] = float64(z[j])
		for p := 0; p < k; p++ {
			want[j] += float64(h[p]) * float64(u[p*cols+j])
		}
	}
	lstmRecAVX2(&h[0], &u[0], &z[0], k, cols)
	closeTo(t, "h·U", z, want, 1e-5)

	m := mustBuild(t, mustPreset(t, "lstm-text", PresetOptions{Vocab: 100, MaxLen: 30}), 2)
	const n = 2 * minSplitRows
	x := make([]float32, n*30)
	for i := range x {
		if i%30 < 3+i/30 {
			x[i] = float32(1 + r.IntN(99))
		}
	}
	batch := append([]float32(nil), m.Forward(x, n)...) // a GEMM per step
	for i := 0; i < n; i += 3 {
		one := m.Forward(x[i*30:], 1) // row by row
		if d := math.Abs(float64(one[0] - batch[i])); d > 1e-5 {
			t.Fatalf("sample %d: %v alone, %v in a batch of %d", i, one[0], batch[i], n)
		}
	}
}
