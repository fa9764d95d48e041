package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmEpilogue: SgemmEpilogue gives every element the bits of Sgemm
// followed by a separate bias-and-ReLU pass (what engine/nn did before the
// epilogue was fused), on every kernel and packing policy, for odd shapes
// (m, k not multiples of the tiles, n = 1..17 and past one or two 32-wide
// panels), all transposes and several k blocks; Sgemm itself is checked
// against the float64 reference by the other tests.
func TestSgemmEpilogue(t *testing.T) {
	ns := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 31, 33, 49, 70}
	for _, kn := range kernels() {
		withKernel(t, kn, func(t *testing.T) {
			for _, pol := range []string{"default", "packed"} {
				withPacking(t, pol, func(t *testing.T) {
					r := rand.New(rand.NewPCG(21, 22))
					for _, m := range []int{1, 5, 13, 25, 31} {
						for _, n := range ns {
							k := []int{1, 7, 130, 2*kc + 3}[r.IntN(4)]
							g := gcase{transA: r.IntN(2) == 1, transB: r.IntN(2) == 1, m: m, n: n, k: k, alpha: 1, beta: float32(r.IntN(2)) / 2}
							g.setStrides(r)
							checkEpilogue(t, r, g, r.IntN(2) == 0)
						}
					}
				})
			}
		})
	}
}

func checkEpilogue(t *testing.T, r *rand.Rand, g gcase, relu bool) {
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
	c := tight(r, g.m, g.n, g.ldc, false)
	bias := make([]float32, g.n)
	for j := range bias {
		bias[j] = float32(r.NormFloat64())
	}
	want := append([]float32(nil), c...)
	Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, want, g.ldc)
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			v := want[i*g.ldc+j] + bias[j]
			if relu {
				v = max(v, 0)
			}
			want[i*g.ldc+j] = v
		}
	}
	SgemmEpilogue(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb, g.beta, c, g.ldc, Epilogue{Bias: bias, ReLU: relu})
	for i := range c {
		if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%v relu=%v: C[%d,%d] = %v, want %v (Sgemm, then bias and ReLU)", g, relu, i/g.ldc, i%g.ldc, c[i], want[i])
		}
	}
}

// TestEpilogueSpecialValues: the fused ReLU keeps NaN, turns −0 into +0
// and clamps negatives, like Go's max(v, 0), on the tiles and the
// matrix-vector path alike.
func TestEpilogueSpecialValues(t *testing.T) {
	for _, kn := range kernels() {
		withKernel(t, kn, func(t *testing.T) {
			for _, m := range []int{1, 3} {
				const n, k = 20, 2
				a := make([]float32, m*k)
				b := make([]float32, k*n)
				for i := range a {
					a[i] = 1
				}
				// Column j sums b[j] + b[n+j]: NaN, −0 (−0 + −0), a negative,
				// a positive, then zeros.
				b[0], b[n] = float32(math.NaN()), 1
				b[1], b[n+1] = float32(math.Copysign(0, -1)), float32(math.Copysign(0, -1))
				b[2], b[n+2] = -3, 1
				b[3], b[n+3] = 2, 0.5
				c := make([]float32, m*n)
				SgemmEpilogue(false, false, m, n, k, 1, a, k, b, n, 0, c, n, Epilogue{ReLU: true})
				for i := 0; i < m; i++ {
					row := c[i*n:]
					if !math.IsNaN(float64(row[0])) || math.Float32bits(row[1]) != 0 || row[2] != 0 || row[3] != 2.5 {
						t.Fatalf("m=%d: relu of NaN, −0, −2, 2.5 gave %v %v (bits %#x) %v %v", m, row[0], row[1], math.Float32bits(row[1]), row[2], row[3])
					}
				}
			}
		})
	}
}

func TestEpiloguePanicsOnShortBias(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a bias shorter than n did not panic")
		}
	}()
	a, b, c := make([]float32, 4), make([]float32, 4), make([]float32, 4)
	SgemmEpilogue(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2, Epilogue{Bias: make([]float32, 1)})
}

// TestEpilogueThreads: split over two goroutines (by rows and by columns,
// so that each part takes its own slice of the bias), SgemmEpilogue gives
// the bits of the serial call.
func TestEpilogueThreads(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	SetThreads(2)
	r := rand.New(rand.NewPCG(31, 32))
	for _, s := range [][3]int{{300, 40, 100}, {20, 700, 100}, {67, 131, 97}} {
		m, n, k := s[0], s[1], s[2]
		a := tight(r, m, k, k, false)
		b := tight(r, k, n, n, false)
		bias := make([]float32, n)
		for j := range bias {
			bias[j] = float32(r.NormFloat64())
		}
		want := make([]float32, m*n)
		got := make([]float32, m*n)
		ep := Epilogue{Bias: bias, ReLU: true}
		SgemmEpilogueSerial(false, false, m, n, k, 1, a, k, b, n, 0, want, n, ep)
		SgemmEpilogue(false, false, m, n, k, 1, a, k, b, n, 0, got, n, ep)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%dx%dx%d: C[%d] = %v on 2 threads, %v on one", m, n, k, i, got[i], want[i])
			}
		}
	}
}
