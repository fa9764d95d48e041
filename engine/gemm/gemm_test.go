package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// refGemm is the triple loop, accumulating in float64. It also returns, per
// element, the sum of absolute terms, which scales the allowed error.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for l := 0; l < k; l++ {
				var av, bv float32
				if transA {
					av = a[l*lda+i]
				} else {
					av = a[i*lda+l]
				}
				if transB {
					bv = b[j*ldb+l]
				} else {
					bv = b[l*ldb+j]
				}
				t := float64(av) * float64(bv)
				s += t
				sa += math.Abs(t)
			}
			w := float64(alpha) * s
			mg := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				mg += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = w
			mag[i*n+j] = mg
		}
	}
	return want, mag
}

// gcase is one randomized call: tight slices cut out of larger backing
// arrays (so reads past the end would hit sentinels, and the kernel's bounds
// check sees the exact length), strides wider than the rows.
type gcase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	lda, ldb, ldc  int
}

func (g gcase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g lda=%d ldb=%d ldc=%d",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.lda, g.ldb, g.ldc)
}

func randCase(r *rand.Rand, maxDim int) gcase {
	g := gcase{
		transA: r.IntN(2) == 1, transB: r.IntN(2) == 1,
		m: 1 + r.IntN(maxDim), n: 1 + r.IntN(maxDim), k: 1 + r.IntN(maxDim),
	}
	ab := [][2]float32{{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0}, {0, 0.5}, {2, 1}}[r.IntN(6)]
	g.alpha, g.beta = ab[0], ab[1]
	g.setStrides(r)
	return g
}

func (g *gcase) setStrides(r *rand.Rand) {
	extra := func() int {
		if r.IntN(2) == 0 {
			return 0
		}
		return 1 + r.IntN(7)
	}
	ac, bc := g.k, g.n
	if g.transA {
		ac = g.m
	}
	if g.transB {
		bc = g.k
	}
	g.lda, g.ldb, g.ldc = ac+extra(), bc+extra(), g.n+extra()
}

// run executes g with the given implementation and compares with refGemm.
func (g gcase) run(t testing.TB, r *rand.Rand, sgemm func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
	t.Helper()
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	a := tight(r, ar, ac, g.lda, false)
	b := tight(r, br, bc, g.ldb, false)
	c := tight(r, g.m, g.n, g.ldc, g.beta == 0) // NaN-filled C must not leak when beta == 0
	c0 := append([]float32(nil), c...)
	want, mag := refGemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c0, g.ldc)
	sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.ldc && i*g.ldc+j < len(c); j++ {
			got := c[i*g.ldc+j]
			if j >= g.n { // padding between rows must be untouched
				if math.Float32bits(got) != math.Float32bits(c0[i*g.ldc+j]) {
					t.Fatalf("%v: padding C[%d,%d] changed to %v", g, i, j, got)
				}
				continue
			}
			w, tol := want[i*g.n+j], 1e-6*float64(g.k+4)*mag[i*g.n+j]+1e-30
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				t.Fatalf("%v: C[%d,%d] = %v, want %v (diff %g > tol %g)", g, i, j, got, w, d, tol)
			}
		}
	}
}

// tight returns a rows×cols matrix with stride ld whose slice ends exactly at
// its last element; gaps between rows hold sentinels (or NaN with nanFill).
func tight(r *rand.Rand, rows, cols, ld int, nanFill bool) []float32 {
	need := (rows-1)*ld + cols
	buf := make([]float32, need+8) // 8 spare floats past the end stay unused
	for i := range buf {
		switch {
		case nanFill:
			buf[i] = float32(math.NaN())
		case i%ld >= cols:
			buf[i] = 1e30 // would dominate any sum it leaked into
		default:
			buf[i] = float32(r.NormFloat64())
		}
	}
	return buf[:need:need]
}

// kernels lists the micro-kernels available on this machine, so that every
// test covers the pure-Go one too.
func kernels() []string {
	k := []string{"go"}
	if haveFMAPeak { // AVX2 and FMA
		k = append(k, "avx2")
	}
	if haveFMAPeak && haveAVX512 {
		// The generated R×32/R×16 tiles, then the older AVX-512 tiles with
		// and without the 6×32 one.
		k = append(k, "avx512-bcst", "avx512", "avx512-16wide")
	}
	return k
}

// withKernel runs f with the named kernel selected.
func withKernel(t *testing.T, name string, f func(t *testing.T)) {
	s2, s5, sw, sb := useAVX2, useAVX512, useWide, useBcst
	useAVX2 = name != "go"
	useAVX512 = strings.HasPrefix(name, "avx512")
	useWide = name == "avx512"
	useBcst = name == "avx512-bcst"
	defer func() { useAVX2, useAVX512, useWide, useBcst = s2, s5, sw, sb }()
	t.Run(name, f)
}

// withPacking runs f under the packing policy: "direct" never packs (except
// transposed B), "packed" always does, "default" is the tuned policy.
func withPacking(t *testing.T, name string, f func(t *testing.T)) {
	sa, sb, st, bp := packAStride, packBStride, minReuseTiles, bcstAlwaysPacksA
	defer func() { packAStride, packBStride, minReuseTiles, bcstAlwaysPacksA = sa, sb, st, bp }()
	switch name {
	case "direct":
		packAStride, packBStride = 1<<62, 1<<62
	case "packed":
		packAStride, packBStride, minReuseTiles = 0, 0, 0
		bcstAlwaysPacksA = true
	}
	t.Run(name, f)
}

func TestSgemmRandomShapes(t *testing.T) {
	for _, kn := range kernels() {
		withKernel(t, kn, func(t *testing.T) {
			for _, pol := range []string{"default", "direct", "packed"} {
				withPacking(t, pol, func(t *testing.T) {
					r := rand.New(rand.NewPCG(1, 2))
					for range 400 {
						randCase(r, 67).run(t, r, Sgemm)
					}
				})
			}
		})
	}
}

// TestSgemmEdges covers every remainder of m mod 6 and n mod 16, k of 1, all
// four transpose combinations and the alpha/beta special cases.
func TestSgemmEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, kn := range kernels() {
		withKernel(t, kn, func(t *testing.T) {
			for _, pol := range []string{"direct", "packed"} {
				withPacking(t, pol, func(t *testing.T) {
					for tr := range 4 {
						for _, m := range []int{1, 5, 6, 7, 12, 13, 16, 32} {
							for _, n := range []int{1, 15, 16, 17, 33} {
								for _, k := range []int{1, 2, 5, 9} {
									for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 3}, {0, 0}, {0, 2}} {
										g := gcase{transA: tr&1 == 1, transB: tr&2 == 2, m: m, n: n, k: k, alpha: ab[0], beta: ab[1]}
										g.setStrides(r)
										g.run(t, r, Sgemm)
									}
								}
							}
						}
					}
				})
			}
		})
	}
}

// TestSgemmRowMatchesBatch: a one-row product (the matrix-vector path)
// gives each element the same bits as the same row inside a 13-row product
// (the tiled kernels), with several k blocks and beta = 0 and 1, so that a
// sample served alone gets exactly what it gets in a batch.
func TestSgemmRowMatchesBatch(t *testing.T) {
	for _, kn := range kernels() {
		withKernel(t, kn, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 9))
			for _, k := range []int{1, 7, 784, 2*kc + 3} {
				for _, n := range []int{10, 16, 128, 8*nr + 3*nr + 9} {
					for _, transA := range []bool{false, true} {
						const m = 13
						a := make([]float32, m*k)
						b := make([]float32, k*n)
						fill(a, b)
						for i := range a {
							a[i] *= float32(r.NormFloat64())
						}
						for i := range b {
							b[i] *= float32(r.NormFloat64())
						}
						lda := k
						if transA {
							lda = m
						}
						for _, beta := range []float32{0, 1} {
							batch := make([]float32, m*n)
							for i := range batch {
								batch[i] = float32(i%7) - 3
							}
							row := append([]float32(nil), batch[5*n:6*n]...)
							Sgemm(transA, false, m, n, k, 0.5, a, lda, b, n, beta, batch, n)
							a5 := a[5*k:]
							if transA {
								a5 = a[5:]
							}
							Sgemm(transA, false, 1, n, k, 0.5, a5, lda, b, n, beta, row, n)
							for j := range row {
								if math.Float32bits(row[j]) != math.Float32bits(batch[5*n+j]) {
									t.Fatalf("k=%d n=%d transA=%v beta=%v: column %d alone %v, in the batch %v", k, n, transA, beta, j, row[j], batch[5*n+j])
								}
							}
						}
					}
				}
			}
		})
	}
}

// TestSgemmBlocking uses sizes past mc, kc and nc so that several cache
// blocks (and beta=1 for later k blocks) are exercised.
func TestSgemmBlocking(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shapes := [][3]int{{mc + 7, 40, kc + 13}, {9, nc + 21, 5}, {2*mc + 1, 19, 2*kc + 3}, {16, 9, 2*kc + 5}, {23, 1, 3 * kc}, {1, 8*nr + 2*nr + 5, 2*kc + 3}}
	for _, kn := range kernels() {
		withKernel(t, kn, func(t *testing.T) {
			for _, pol := range []string{"direct", "packed"} {
				withPacking(t, pol, func(t *testing.T) {
					for _, s := range shapes {
						for tr := range 4 {
							g := gcase{transA: tr&1 == 1, transB: tr&2 == 2, m: s[0], n: s[1], k: s[2], alpha: 0.75, beta: float32(tr % 2)}
							g.setStrides(r)
							g.run(t, r, Sgemm)
						}
					}
				})
			}
		})
	}
}

func TestSgemmThreads(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{{64, 128, 200}, {200, 64, 128}, {65, 200, 97}, {13, 700, 90}, {300, 20, 100}}
	for _, th := range []int{2, 3, 7} {
		SetThreads(th)
		if Threads() != th {
			t.Fatalf("Threads() = %d after SetThreads(%d)", Threads(), th)
		}
		for _, s := range shapes {
			for tr := range 4 {
				g := gcase{transA: tr&1 == 1, transB: tr&2 == 2, m: s[0], n: s[1], k: s[2], alpha: 1, beta: float32(tr / 2)}
				g.setStrides(r)
				g.run(t, r, Sgemm)
				g.run(t, r, SgemmSerial) // ignores the thread count
			}
		}
	}
	SetThreads(0)
	if Threads() != 1 {
		t.Fatalf("SetThreads(0) gives Threads() = %d, want 1", Threads())
	}
}

// TestSgemmConcurrent calls Sgemm from several goroutines at once, each
// splitting its product over the shared workers (run it with -race).
func TestSgemmConcurrent(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	errs := make(chan error, 4)
	for w := range 4 {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 12))
			g := gcase{m: 70 + w, n: 90, k: 100, alpha: 1, beta: 0.5}
			g.setStrides(r)
			errs <- runQuiet(g, r)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// runQuiet is gcase.run for goroutines other than the test's own: it
// returns the first mismatch instead of calling t.Fatal.
func runQuiet(g gcase, r *rand.Rand) (err error) {
	ft := &fakeTB{}
	func() {
		defer func() {
			if ft.failed {
				recover()
			}
		}()
		g.run(ft, r, Sgemm)
	}()
	if ft.failed {
		return fmt.Errorf("%s", ft.msg)
	}
	return nil
}

// fakeTB records a Fatalf and unwinds with a panic.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic(f.msg)
}

func TestSgemmZeroSizes(t *testing.T) {
	c := []float32{float32(math.NaN()), 2, 3, 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("k=0, beta=0: c[%d] = %v, want 0", i, v)
		}
	}
	c = []float32{1, 2, 3, 4}
	a := []float32{float32(math.NaN()), 1, 1, 1}
	Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 2, c, 2)
	if c[0] != 2 || c[3] != 8 {
		t.Fatalf("alpha=0 must only scale C: %v", c)
	}
	Sgemm(false, false, 0, 0, 3, 1, nil, 3, nil, 1, 0, nil, 1) // nothing to do, nothing to panic about
}

func TestSgemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	for _, tc := range []struct {
		name string
		f    func()
		want string
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }, "negative size"},
		{"lda small", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }, "lda=2"},
		{"lda small transA", func() { Sgemm(true, false, 4, 2, 3, 1, buf, 3, buf, 2, 0, buf, 2) }, "lda=3"},
		{"ldb small transB", func() { Sgemm(false, true, 2, 5, 3, 1, buf, 3, buf, 2, 0, buf, 5) }, "ldb=2"},
		{"ldc small", func() { Sgemm(false, false, 2, 4, 3, 1, buf, 3, buf, 4, 0, buf, 3) }, "ldc=3"},
		{"a short", func() { Sgemm(false, false, 10, 2, 11, 1, buf, 11, buf, 2, 0, buf, 2) }, "len(a)=100"},
		{"c short", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf, 2, 0, buf[:3], 2) }, "len(c)=3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Fatalf("panic %v, want one mentioning %q", r, tc.want)
				}
			}()
			tc.f()
		})
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	defer SetThreads(Threads())
	for i, s := range trainingShapes {
		SetThreads(1 + i%2) // the parallel path must not allocate either
		g := gcase{transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, alpha: 1}
		g.setStrides(r)
		a, b, c := operands(g)
		bias := make([]float32, g.n)
		f := func() {
			Sgemm(g.transA, g.transB, g.m, g.n, g.k, 1, a, g.lda, b, g.ldb, 0, c, g.ldc)
			SgemmEpilogue(g.transA, g.transB, g.m, g.n, g.k, 1, a, g.lda, b, g.ldb, 0, c, g.ldc, Epilogue{Bias: bias, ReLU: true})
		}
		f()
		if n := testing.AllocsPerRun(20, f); n != 0 {
			t.Errorf("%s, %d threads: %v allocations per call, want 0", s.name, Threads(), n)
		}
	}
}

// operands allocates zeroed operands for g.
func operands(g gcase) (a, b, c []float32) {
	ar, br := g.m, g.k
	if g.transA {
		ar = g.k
	}
	if g.transB {
		br = g.n
	}
	return make([]float32, ar*g.lda), make([]float32, br*g.ldb), make([]float32, g.m*g.ldc)
}

// FuzzSgemm compares small random products with the reference.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(17), uint8(3), uint8(0), uint64(1))
	f.Add(uint8(1), uint8(1), uint8(1), uint8(15), uint64(2))
	f.Add(uint8(64), uint8(10), uint8(128), uint8(6), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 11))
		g := gcase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: 1 + int(m%80), n: 1 + int(n%80), k: 1 + int(k%80),
			alpha: 1, beta: float32(flags>>2&3) - 1,
		}
		g.setStrides(r)
		s2, s5 := useAVX2, useAVX512
		defer func() { useAVX2, useAVX512 = s2, s5 }()
		useAVX2 = haveFMAPeak && flags&16 == 0
		useAVX512 = useAVX2 && haveAVX512 && flags&32 == 0
		g.run(t, r, Sgemm)
	})
}
