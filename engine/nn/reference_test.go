package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// These tests compare forward passes with direct float64 implementations
// of the textbook formulas (the gradient check only proves that backward
// matches forward, not that forward is the right function).

func tensor(t *testing.T, m *Model, name string) []float32 {
	t.Helper()
	for _, tt := range m.Tensors() {
		if tt.Name == name {
			return tt.Data
		}
	}
	t.Fatalf("no tensor %s", name)
	return nil
}

func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func randomize(m *Model, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range m.Params() {
		m.Params()[i] = float32(r.NormFloat64() * 0.5)
	}
}

func TestConvPoolReference(t *testing.T) {
	const C, H, W, F, K, S, P = 2, 7, 6, 3, 3, 2, 1
	const Ho, Wo = (H+2*P-K)/S + 1, (W+2*P-K)/S + 1 // 4, 3
	const nOut = F * (Ho - 1) * (Wo - 1)            // after a 2×2 pool with stride 1
	s := Spec{Input: []int{C, H, W}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: F, Kernel: K, Stride: S, Pad: P},
		{Type: "maxpool2d", Pool: 2, Stride: 1},
		{Type: "flatten"},
		{Type: "dense", Units: nOut},
	}}
	m := mustBuild(t, s, 1)
	randomize(m, 2)
	// An identity dense layer, so the logits are the conv+pool output.
	dw := tensor(t, m, "layers.3.dense.kernel")
	clear(dw)
	clear(tensor(t, m, "layers.3.dense.bias"))
	for j := 0; j < nOut; j++ {
		dw[j*nOut+j] = 1
	}
	n := 2
	x := uniform(rand.New(rand.NewPCG(3, 3)), n*C*H*W)
	logits := m.Forward(x, n)

	w := tensor(t, m, "layers.0.conv2d.kernel")
	b := tensor(t, m, "layers.0.conv2d.bias")
	want := make([]float64, 0, nOut*n)
	for i := 0; i < n; i++ {
		conv := func(f, oy, ox int) float64 {
			v := float64(b[f])
			for c := 0; c < C; c++ {
				for ky := 0; ky < K; ky++ {
					for kx := 0; kx < K; kx++ {
						iy, ix := oy*S-P+ky, ox*S-P+kx
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							continue
						}
						v += float64(w[((f*C+c)*K+ky)*K+kx]) * float64(x[((i*C+c)*H+iy)*W+ix])
					}
				}
			}
			return v
		}
		pool := func(f, py, px int) float64 {
			return math.Max(math.Max(conv(f, py, px), conv(f, py, px+1)), math.Max(conv(f, py+1, px), conv(f, py+1, px+1)))
		}
		for f := 0; f < F; f++ {
			for py := 0; py < Ho-1; py++ {
				for px := 0; px < Wo-1; px++ {
					want = append(want, pool(f, py, px))
				}
			}
		}
	}
	closeTo(t, "conv+pool", logits, want, 1e-5)
}

func TestLSTMReference(t *testing.T) {
	const T, D, U, V = 6, 3, 4, 12
	s := Spec{Input: []int{T}, Layers: []LayerSpec{
		{Type: "embedding", Vocab: V, Dim: D}, {Type: "lstm", Units: U}, {Type: "dense", Units: 1}}}
	m := mustBuild(t, s, 1)
	randomize(m, 4)
	emb := tensor(t, m, "layers.0.embedding.weight")
	W := tensor(t, m, "layers.1.lstm.kernel")
	Ur := tensor(t, m, "layers.1.lstm.recurrent")
	B := tensor(t, m, "layers.1.lstm.bias")
	dw := tensor(t, m, "layers.2.dense.kernel")
	db := tensor(t, m, "layers.2.dense.bias")
	rows := [][]int{{5, 3, 11, 2, 7, 1}, {4, 9}, {}, {6, 6, 6, 1}}
	x := seqIDs(rows, T)
	logits := m.Forward(x, len(rows))
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	var want []float64
	for _, r := range rows {
		h := make([]float64, U)
		c := make([]float64, U)
		steps := max(len(r), 1)
		for t := 0; t < steps; t++ {
			in := make([]float64, D) // padding: zero vector
			if t < len(r) {
				for j := range in {
					in[j] = float64(emb[r[t]*D+j])
				}
			}
			z := make([]float64, 4*U)
			for g := range z {
				z[g] = float64(B[g])
				for j := 0; j < D; j++ {
					z[g] += in[j] * float64(W[j*4*U+g])
				}
				for j := 0; j < U; j++ {
					z[g] += h[j] * float64(Ur[j*4*U+g])
				}
			}
			for j := 0; j < U; j++ {
				ig, fg, gg, og := sig(z[j]), sig(z[U+j]), math.Tanh(z[2*U+j]), sig(z[3*U+j])
				c[j] = fg*c[j] + ig*gg
				h[j] = og * math.Tanh(c[j])
			}
		}
		out := float64(db[0])
		for j := 0; j < U; j++ {
			out += h[j] * float64(dw[j])
		}
		want = append(want, out)
	}
	closeTo(t, "lstm logits", logits, want, 2e-5)

	// The padding row of the table is never read: garbage there changes nothing.
	for j := 0; j < D; j++ {
		emb[j] = 1e6
	}
	closeTo(t, "lstm logits with a dirty padding row", m.Forward(x, len(rows)), want, 2e-5)

	// A sample's output does not depend on the batch's longest sample.
	one := m.Forward(x[T:2*T], 1)
	closeTo(t, "sample 1 alone", one, want[1:2], 2e-5)
}

func TestDenseSoftmaxReference(t *testing.T) {
	s := Spec{Input: []int{3}, Layers: []LayerSpec{{Type: "dense", Units: 4, Activation: "softmax"}, {Type: "dense", Units: 2}}}
	m := mustBuild(t, s, 1)
	randomize(m, 5)
	w0, b0 := tensor(t, m, "layers.0.dense.kernel"), tensor(t, m, "layers.0.dense.bias")
	w1, b1 := tensor(t, m, "layers.1.dense.kernel"), tensor(t, m, "layers.1.dense.bias")
	x := []float32{0.5, -1, 2, 3, 0, -2}
	var want []float64
	for i := 0; i < 2; i++ {
		h := make([]float64, 4)
		var sum float64
		for j := range h {
			v := float64(b0[j])
			for k := 0; k < 3; k++ {
				v += float64(x[i*3+k]) * float64(w0[k*4+j])
			}
			h[j] = math.Exp(v)
			sum += h[j]
		}
		for o := 0; o < 2; o++ {
			v := float64(b1[o])
			for j := range h {
				v += h[j] / sum * float64(w1[j*2+o])
			}
			want = append(want, v)
		}
	}
	closeTo(t, "dense softmax", m.Forward(x, 2), want, 1e-5)
	probs := make([]float32, 4)
	Probabilities(m.Forward(x, 2), 2, 2, probs)
	if d := probs[0] + probs[1] - 1; math.Abs(float64(d)) > 1e-6 {
		t.Fatalf("probabilities %v do not sum to 1", probs)
	}
}

func TestDropoutInference(t *testing.T) {
	s := Spec{Input: []int{50}, Layers: []LayerSpec{{Type: "dropout", Rate: 0.5}, {Type: "dense", Units: 2}}}
	m := mustBuild(t, s, 1)
	x := uniform(rand.New(rand.NewPCG(1, 1)), 50)
	a := append([]float32(nil), m.Forward(x, 1)...)
	b := m.Forward(x, 1)
	if a[0] != b[0] || a[1] != b[1] {
		t.Fatal("inference is not deterministic: dropout active?")
	}
	// Training zeroes about half the inputs: the gradient of the dense
	// kernel has zero rows there.
	m.TrainBatch(x, []float32{1}, 1)
	g := m.Grads()
	zero := 0
	for k := 0; k < 50; k++ {
		if g[k*2] == 0 && g[k*2+1] == 0 {
			zero++
		}
	}
	if zero < 10 || zero > 40 {
		t.Fatalf("%d of 50 inputs dropped at rate 0.5", zero)
	}
}

func TestMaxPool2x2(t *testing.T) {
	const C, H, W = 3, 7, 6 // odd height: the last row is dropped
	l := &maxpool{c: C, h: H, w: W, pool: 2, stride: 2, ho: H / 2, wo: W / 2}
	n := 2
	x := uniform(rand.New(rand.NewPCG(8, 8)), n*C*H*W)
	y := l.forward(&batchCtx{n: n}, x)
	k := 0
	for i := 0; i < n; i++ {
		for c := 0; c < C; c++ {
			for oy := 0; oy < H/2; oy++ {
				for ox := 0; ox < W/2; ox++ {
					at := func(dy, dx int) float32 { return x[((i*C+c)*H+2*oy+dy)*W+2*ox+dx] }
					want := max(at(0, 0), at(0, 1), at(1, 0), at(1, 1))
					if y[k] != want {
						t.Fatalf("pool output %d = %v, want %v", k, y[k], want)
					}
					if x[i*C*H*W+int(l.arg[k])] != want {
						t.Fatalf("argmax %d points at %v, want %v", k, x[i*C*H*W+int(l.arg[k])], want)
					}
					k++
				}
			}
		}
	}
}

// TestConvReference checks conv2d alone (through an identity dense layer)
// against the direct sum, for the "same" fast path and the general one.
func TestConvReference(t *testing.T) {
	cases := []struct{ C, H, W, F, K, S, P int }{
		{2, 5, 4, 3, 3, 1, 1}, // same: shifted-plane im2col
		{1, 1, 1, 2, 3, 1, 1}, // same, 1×1 image: all shifts leave it
		{1, 2, 3, 2, 5, 1, 2}, // same with a kernel larger than the image
		{3, 6, 5, 2, 2, 1, 0}, // valid
		{2, 7, 6, 3, 3, 2, 1}, // strided
	}
	for _, c := range cases {
		Ho, Wo := (c.H+2*c.P-c.K)/c.S+1, (c.W+2*c.P-c.K)/c.S+1
		nOut := c.F * Ho * Wo
		s := Spec{Input: []int{c.C, c.H, c.W}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: c.F, Kernel: c.K, Stride: c.S, Pad: c.P},
			{Type: "flatten"}, {Type: "dense", Units: max(nOut, 2)}}}
		m := mustBuild(t, s, 1)
		randomize(m, 9)
		dw := tensor(t, m, "layers.2.dense.kernel")
		clear(dw)
		clear(tensor(t, m, "layers.2.dense.bias"))
		for j := 0; j < nOut; j++ {
			dw[j*max(nOut, 2)+j] = 1
		}
		n := 2
		x := uniform(rand.New(rand.NewPCG(4, 4)), n*c.C*c.H*c.W)
		got := m.Forward(x, n)
		w := tensor(t, m, "layers.0.conv2d.kernel")
		b := tensor(t, m, "layers.0.conv2d.bias")
		var want []float64
		for i := 0; i < n; i++ {
			for f := 0; f < c.F; f++ {
				for oy := 0; oy < Ho; oy++ {
					for ox := 0; ox < Wo; ox++ {
						v := float64(b[f])
						for ch := 0; ch < c.C; ch++ {
							for ky := 0; ky < c.K; ky++ {
								for kx := 0; kx < c.K; kx++ {
									iy, ix := oy*c.S-c.P+ky, ox*c.S-c.P+kx
									if iy >= 0 && iy < c.H && ix >= 0 && ix < c.W {
										v += float64(w[((f*c.C+ch)*c.K+ky)*c.K+kx]) * float64(x[((i*c.C+ch)*c.H+iy)*c.W+ix])
									}
								}
							}
						}
						want = append(want, v)
					}
				}
			}
			for j := nOut; j < 2; j++ {
				want = append(want, 0)
			}
		}
		closeTo(t, fmt.Sprintf("conv %+v", c), got, want, 1e-5)
	}
}
