package gemm

import (
	"fmt"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// shape is one benchmarked product.
type shape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// trainingShapes are the products engine/nn issues for the presets (see
// dense.go, lstm.go, conv.go there): the MNIST mlp 784-128-10 at batch 64
// (forward, weight gradient AᵀB, input gradient ABᵀ); the text LSTM at batch
// 32, 50 steps, 32 inputs, 32 units (4 gates: 128); the CNN's im2col
// convolutions (3×3, 1->16 channels at 28×28, 16->32 at 14×14), per image
// and at batch 64.
var trainingShapes = []shape{
	{"mlp_fc1_64x784x128", false, false, 64, 128, 784},
	{"mlp_fc2_64x128x10", false, false, 64, 10, 128},
	{"mlp_fc1_dW_AtB_784x64x128", true, false, 784, 128, 64},
	{"mlp_fc2_dW_AtB_128x64x10", true, false, 128, 10, 64},
	{"mlp_fc2_dX_ABt_64x10x128", false, true, 64, 128, 10},
	{"mlp_fc1_dX_ABt_64x128x784", false, true, 64, 784, 128},
	{"lstm_proj_1600x32x128", false, false, 1600, 128, 32},
	{"lstm_step_32x32x128", false, false, 32, 128, 32},
	{"lstm_dH_ABt_32x128x32", false, true, 32, 32, 128},
	{"lstm_dW_AtB_32x1600x128", true, false, 32, 128, 1600},
	{"lstm_dX_ABt_1600x128x32", false, true, 1600, 32, 128},
	{"conv1_img_784x9x16", false, false, 784, 16, 9},
	{"conv2_img_196x144x32", false, false, 196, 32, 144},
	{"conv1_b64_ABt_50176x9x16", false, true, 50176, 16, 9},
	{"conv1_b64_dW_AtB_16x50176x9", true, false, 16, 9, 50176},
	{"conv2_b64_ABt_12544x144x32", false, true, 12544, 32, 144},
	{"conv2_b64_dW_AtB_32x12544x144", true, false, 32, 144, 12544},
	{"conv2_b64_dcol_12544x32x144", false, false, 12544, 144, 32},
}

func squareShapes() []shape {
	var s []shape
	for _, d := range []int{64, 128, 256, 512, 1024} {
		s = append(s, shape{fmt.Sprintf("square_%d", d), false, false, d, d, d})
	}
	return s
}

// benchShape runs one product b.N times with impl and reports GFLOP/s.
func benchShape(b *testing.B, s shape, impl func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
	g := gcase{transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k}
	g.lda, g.ldb, g.ldc = s.k, s.n, s.n
	if s.transA {
		g.lda = s.m
	}
	if s.transB {
		g.ldb = s.k
	}
	a, bb, c := operands(g)
	fill(a, bb)
	// Warm up outside the timed loop: the first call allocates the pooled
	// packing buffers.
	impl(s.transA, s.transB, s.m, s.n, s.k, 1, a, g.lda, bb, g.ldb, 0, c, g.ldc)
	b.ReportAllocs()
	for b.Loop() {
		impl(s.transA, s.transB, s.m, s.n, s.k, 1, a, g.lda, bb, g.ldb, 0, c, g.ldc)
	}
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// fill sets a and b to small non-zero values (gonum skips zeros of A, so
// zero operands would flatter it).
func fill(a, b []float32) {
	for i := range a {
		a[i] = float32(i%7+1) * 0.25
	}
	for i := range b {
		b[i] = float32(i%5+1) * 0.5
	}
}

func gonumSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// BenchmarkSgemm measures square and training-shaped products with shoal's
// kernel and, beside each, gonum's pure-Go Sgemm.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range append(squareShapes(), trainingShapes...) {
		b.Run(s.name+"/shoal", func(b *testing.B) { benchShape(b, s, Sgemm) })
		b.Run(s.name+"/gonum", func(b *testing.B) { benchShape(b, s, gonumSgemm) })
	}
}

// BenchmarkSgemmPolicy compares the packing choices per shape (for tuning
// packAStride/packBStride).
func BenchmarkSgemmPolicy(b *testing.B) {
	sa, sb, st := packAStride, packBStride, minReuseTiles
	defer func() { packAStride, packBStride, minReuseTiles = sa, sb, st }()
	minReuseTiles = 0
	for _, s := range append(squareShapes(), trainingShapes...) {
		for _, pol := range []struct {
			name   string
			pa, pb int
		}{{"direct", 1 << 62, 1 << 62}, {"packA", 0, 1 << 62}, {"packB", 1 << 62, 0}, {"packAB", 0, 0}} {
			b.Run(s.name+"/"+pol.name, func(b *testing.B) {
				packAStride, packBStride = pol.pa, pol.pb
				benchShape(b, s, Sgemm)
			})
		}
	}
}
