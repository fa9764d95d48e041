package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// specials are values the kernels must treat exactly as the Go loops do.
var specials = []float32{0, float32(math.Copysign(0, -1)), 1e-20, -1e-20, 1e-35, 1e-38, -1e-31, 3, -3,
	float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}

func simdData(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if r.IntN(4) == 0 {
			x[i] = specials[r.IntN(len(specials))]
		} else {
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			// Any NaN is as good as another.
			if a[i] != a[i] && b[i] != b[i] {
				continue
			}
			return i
		}
	}
	return -1
}

// withoutAVX2 runs f with the Go loops.
func withoutAVX2(f func()) {
	saved := haveAVX2
	haveAVX2 = false
	defer func() { haveAVX2 = saved }()
	f()
}

// TestSIMDKernelsMatchGo checks each AVX2 kernel bit for bit against its Go
// loop on every length up to 70 (all tails), with zeros of both signs,
// NaNs, infinities and values below the flush thresholds.
func TestSIMDKernelsMatchGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n <= 70; n++ {
		a, b := simdData(r, n), simdData(r, n)
		y := simdData(r, n)
		for i := range y { // ReLU outputs: +0 or positive
			y[i] = max(y[i], 0)
		}

		d1, d2 := append([]float32(nil), a...), append([]float32(nil), a...)
		addTo(d1, b)
		withoutAVX2(func() { addTo(d2, b) })
		if i := sameBits(d1, d2); i >= 0 {
			t.Fatalf("addTo n=%d: [%d] = %v, Go %v", n, i, d1[i], d2[i])
		}

		for _, bias := range []float32{0, -0.5, 2} {
			biasReLU(d1, a, bias)
			withoutAVX2(func() { biasReLU(d2, a, bias) })
			if i := sameBits(d1, d2); i >= 0 {
				t.Fatalf("biasReLU n=%d b=%v: [%d] = %v (%x), Go %v (%x)", n, bias, i, d1[i], math.Float32bits(d1[i]), d2[i], math.Float32bits(d2[i]))
			}
		}

		d1, d2 = append(d1[:0], a...), append(d2[:0], a...)
		addReLU(d1, b)
		withoutAVX2(func() { addReLU(d2, b) })
		if i := sameBits(d1, d2); i >= 0 {
			t.Fatalf("addReLU n=%d: [%d] = %v (%x), Go %v (%x)", n, i, d1[i], math.Float32bits(d1[i]), d2[i], math.Float32bits(d2[i]))
		}

		fin := make([]float32, n) // finite gradients, so that sums compare
		for i := range fin {
			fin[i] = float32(r.NormFloat64())
		}
		s1 := reluMaskSum(d1, fin, y)
		var s2 float32
		withoutAVX2(func() { s2 = reluMaskSum(d2, fin, y) })
		if i := sameBits(d1, d2); i >= 0 {
			t.Fatalf("reluMaskSum n=%d: [%d] = %v, Go %v", n, i, d1[i], d2[i])
		}
		if math.Abs(float64(s1-s2)) > 1e-5*float64(n) {
			t.Fatalf("reluMaskSum n=%d: sum %v, Go %v", n, s1, s2)
		}
	}
}

func TestAdamAVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{1, 7, 8, 9, 31, 100, 1003} {
		o1 := mustOpt(t, OptimizerConfig{Name: "adam"}, n).(*adam)
		o2 := mustOpt(t, OptimizerConfig{Name: "adam"}, n).(*adam)
		p1 := simdData(r, n)
		p2 := append([]float32(nil), p1...)
		for step := 0; step < 5; step++ {
			g := simdData(r, n)
			if step == 3 {
				for i := range g { // moments decay towards the flush thresholds
					g[i] = 0
				}
			}
			o1.Step(p1, g)
			withoutAVX2(func() { o2.Step(p2, g) })
			for _, c := range [][2][]float32{{p1, p2}, {o1.m, o2.m}, {o1.v, o2.v}} {
				if i := sameBits(c[0], c[1]); i >= 0 {
					t.Fatalf("n=%d step %d: [%d] = %v, Go %v", n, step, i, c[0][i], c[1][i])
				}
			}
		}
	}
}

func TestMaxpoolAVX2MatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for h := 2; h <= 9; h++ {
		for w := 2; w <= 37; w++ {
			const c, n = 3, 2
			mk := func() *maxpool {
				return &maxpool{c: c, h: h, w: w, pool: 2, stride: 2, ho: h / 2, wo: w / 2}
			}
			l1, l2 := mk(), mk()
			x := make([]float32, n*c*h*w)
			for i := range x {
				x[i] = float32(r.IntN(5)) // many ties
			}
			ctx := &batchCtx{n: n}
			y1 := l1.forward(ctx, x)
			var y2 []float32
			withoutAVX2(func() { y2 = l2.forward(ctx, x) })
			if i := sameBits(y1, y2); i >= 0 {
				t.Fatalf("h=%d w=%d: y[%d] = %v, Go %v", h, w, i, y1[i], y2[i])
			}
			for i := range l1.arg {
				if l1.arg[i] != l2.arg[i] {
					t.Fatalf("h=%d w=%d: arg[%d] = %d, Go %d", h, w, i, l1.arg[i], l2.arg[i])
				}
			}
			dy := simdData(r, len(y1))
			for i := range dy {
				dy[i] = float32(r.NormFloat64())
			}
			l1.backward(ctx, x, append([]float32(nil), dy...), true)
			for i := range l1.dx { // stale values must be overwritten
				l1.dx[i] = 7
			}
			dx1 := l1.backward(ctx, x, append([]float32(nil), dy...), true)
			var dx2 []float32
			withoutAVX2(func() { dx2 = l2.backward(ctx, x, append([]float32(nil), dy...), true) })
			if i := sameBits(dx1, dx2); i >= 0 {
				t.Fatalf("h=%d w=%d: dx[%d] = %v, Go %v", h, w, i, dx1[i], dx2[i])
			}
		}
	}
}

func TestDotsABt(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, sz := range [][3]int{{9, 16, 800}, {3, 4, 8}, {4, 5, 17}, {1, 1, 3}, {7, 9, 64}, {3, 4, 0}} {
		m, p, n := sz[0], sz[1], sz[2]
		lda, ldb := n+3, n+5
		a, b := simdData(r, m*lda), simdData(r, p*ldb)
		for i := range a {
			a[i] = float32(r.NormFloat64())
		}
		for i := range b {
			b[i] = float32(r.NormFloat64())
		}
		for _, beta := range []float32{0, 1} {
			c := make([]float32, m*p)
			for i := range c {
				c[i] = 0.5
			}
			dotsABt(m, p, n, a, lda, b, ldb, beta, c, p)
			for i := 0; i < m; i++ {
				for j := 0; j < p; j++ {
					var want float64
					for q := 0; q < n; q++ {
						want += float64(a[i*lda+q]) * float64(b[j*ldb+q])
					}
					if n > 0 && beta != 0 {
						want += 0.5
					}
					if n == 0 {
						want = float64(0.5 * beta)
					}
					if d := math.Abs(float64(c[i*p+j]) - want); d > 1e-4*(1+math.Sqrt(float64(n))) {
						t.Fatalf("%v beta %v: c[%d,%d] = %v, want %v", sz, beta, i, j, c[i*p+j], want)
					}
				}
			}
		}
	}
}

// TestConvChunksAgree trains one batch with the column matrix cut into
// chunks of 1, 2 and all samples (and with the Go loops instead of the
// AVX2 kernels): losses, outputs and gradients must agree to rounding.
func TestConvChunksAgree(t *testing.T) {
	s := Spec{Input: []int{3, 9, 8}, Layers: []LayerSpec{
		{Type: "conv2d", Filters: 5, Kernel: 3, Pad: 1, Activation: "relu"},
		{Type: "maxpool2d", Pool: 2},
		{Type: "conv2d", Filters: 4, Kernel: 3, Pad: 1, Activation: "relu"},
		{Type: "conv2d", Filters: 3, Kernel: 2, Stride: 2, Activation: "tanh"},
		{Type: "flatten"},
		{Type: "dense", Units: 3},
	}}
	const n = 5
	r := rand.New(rand.NewPCG(11, 12))
	x := randData(r, n, 3*9*8, 0)
	y := []float32{0, 1, 2, 1, 0}
	run := func(chunkFloats int, asm bool) (float32, []float32) {
		savedC, savedA := convChunkFloats, haveAVX2
		convChunkFloats, haveAVX2 = chunkFloats, haveAVX2 && asm
		defer func() { convChunkFloats, haveAVX2 = savedC, savedA }()
		m := mustBuild(t, s, 1)
		loss := m.TrainBatch(x, y, n)
		return loss, append([]float32(nil), m.Grads()...)
	}
	wantLoss, want := run(1<<30, true)
	for _, c := range []struct {
		floats int
		asm    bool
	}{{1, true}, {3 * 9 * 9 * 8 * 2, true}, {1, false}, {1 << 30, false}} {
		loss, got := run(c.floats, c.asm)
		if d := math.Abs(float64(loss - wantLoss)); d > 1e-5 {
			t.Errorf("chunk %d floats, asm %v: loss %v, want %v", c.floats, c.asm, loss, wantLoss)
		}
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("chunk %d floats, asm %v: grad[%d] = %v, want %v", c.floats, c.asm, i, got[i], want[i])
			}
		}
	}
}

// TestAdamAVX512MatchesAVX2 runs Adam with the 16-lane kernel and without
// it (the AVX2 kernel and the Go tail) on lengths that leave every tail,
// with zero gradients on one step so the moments reach the flush
// thresholds, and NaN and infinite gradients kept as the Go loop keeps
// them: the same bits everywhere.
func TestAdamAVX512MatchesAVX2(t *testing.T) {
	if !haveAVX2 || !haveAVX512 {
		t.Skip("no AVX-512 kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{15, 16, 17, 23, 24, 31, 32, 33, 47, 100, 1003} {
		o1 := mustOpt(t, OptimizerConfig{Name: "adam"}, n).(*adam)
		o2 := mustOpt(t, OptimizerConfig{Name: "adam"}, n).(*adam)
		o3 := mustOpt(t, OptimizerConfig{Name: "adam"}, n).(*adam)
		p1 := simdData(r, n)
		p2 := append([]float32(nil), p1...)
		p3 := append([]float32(nil), p1...)
		for step := 0; step < 6; step++ {
			g := simdData(r, n)
			switch step {
			case 3:
				clear(g) // moments decay towards the flush thresholds
			case 5:
				g[n/2] = float32(math.NaN())
				g[n-1] = float32(math.Inf(-1))
			}
			o1.Step(p1, g)
			haveAVX512 = false
			o2.Step(p2, g)
			haveAVX512 = true
			withoutAVX2(func() { o3.Step(p3, g) })
			for _, c := range [][3][]float32{{p1, p2, p3}, {o1.m, o2.m, o3.m}, {o1.v, o2.v, o3.v}} {
				if i := sameBits(c[0], c[1]); i >= 0 {
					t.Fatalf("n=%d step %d: [%d] = %v, AVX2 %v", n, step, i, c[0][i], c[1][i])
				}
				if i := sameBits(c[0], c[2]); i >= 0 {
					t.Fatalf("n=%d step %d: [%d] = %v, Go %v", n, step, i, c[0][i], c[2][i])
				}
			}
		}
	}
}

// TestExpShiftMatchesGo checks expShift's AVX-512 kernel bit for bit
// against exp32 on every length up to 40 (all tails) and on the clamps'
// edges, NaNs and infinities, with shifts of both signs.
func TestExpShiftMatchesGo(t *testing.T) {
	if !haveAVX2 || !haveAVX512 {
		t.Skip("no AVX-512 kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(11, 12))
	edges := []float32{-87.3, -87.31, 88.3, 88.31, -200, 200, 0.5, -0.5, 1e-8}
	for n := 1; n <= 40; n++ {
		for _, m := range []float32{0, 3.5, -2, float32(math.Copysign(0, -1))} {
			src := simdData(r, n)
			for i := range src {
				src[i] *= 30 // reach the clamps
			}
			src[r.IntN(n)] = edges[r.IntN(len(edges))]
			src[r.IntN(n)] = specials[r.IntN(len(specials))]
			got := make([]float32, n+1) // one more: the kernel must not write past n
			got[n] = 42
			expShift(got[:n], src, m)
			want := make([]float32, n)
			withoutAVX2(func() { expShift(want, src, m) })
			if i := sameBits(got[:n], want); i >= 0 {
				t.Fatalf("n=%d m=%v: exp(%v - m) = %v, Go %v", n, m, src[i], got[i], want[i])
			}
			if got[n] != 42 {
				t.Fatalf("n=%d: wrote past the end", n)
			}
		}
	}
}
