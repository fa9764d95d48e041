//go:build !amd64 || purego

package gemm

// useAVX2 is false where no assembly kernel is built.
var useAVX2 = false

func microKernel(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	kernGo(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta)
}

// haveFMAPeak is false: there is no assembly peak loop on this platform.
var haveFMAPeak = false

func fmaPeak(int) { panic("gemm: no FMA peak loop on this platform") }

func edgeKernel(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, rows, cols int, tmp *[mr * nr]float32) {
	edgeViaTmp(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta, rows, cols, tmp)
}

// No AVX-512 kernel here.
var (
	useAVX512  = false
	haveAVX512 = false
)

func microKernel2(k int, a0, a1 []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	panic("gemm: no 12-row kernel on this platform")
}

func fmaPeak512(int) { panic("gemm: no AVX-512 peak loop on this platform") }

// No matrix-vector kernel here: a one-row product takes the tiled path.
func haveGemv() bool { return false }

func gemvCols(k int, x []float32, incx int, b []float32, ldb int, c []float32, alpha, beta float32, cols int) {
	panic("gemm: no matrix-vector kernel on this platform")
}

func microKernel3(k int, a0, a1, a2 []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	panic("gemm: no 16-row kernel on this platform")
}

func microKernelWide(k int, a []float32, rsA, csA int, b0, b1 []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	panic("gemm: no 32-column kernel on this platform")
}

// No generated AVX-512 tiles here.
func haveBcst() bool { return false }

func bcstCall(k int, a *float32, aNext, rsA, csA int, b *float32, bNext, rsB int, c *float32, ldc int, alpha, beta float32, rows, cols, flags int, bias *float32) {
	panic("gemm: no AVX-512 tiles on this platform")
}

// Sizes of the generated tiles (see gen_bcst.go), for the tiling.
const (
	bcst32Rows = 12
	bcst16Rows = 24
)
