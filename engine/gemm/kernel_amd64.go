//go:build !purego

package gemm

import (
	"fmt"
	"os"

	"golang.org/x/sys/cpu"
)

// useAVX2 selects the assembly micro-kernel; tests switch it off to run the
// pure-Go kernel on the same machine.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernAVX2 is the 6×16 AVX2/FMA micro-kernel (kernel_amd64.s); see kernel
// for the meaning of the arguments. Strides are in elements. It reads C only
// when loadC is non-zero.
//
//go:noescape
func kernAVX2(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)

// kernAVX2Edge is kernAVX2 storing only the first rows rows and the columns
// whose int32 lane in mask[0:16] is all ones.
//
//go:noescape
func kernAVX2Edge(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int, rows int, mask *int32)

// colMasks[16-w:] starts with w all-ones lanes followed by zeros.
var colMasks = [2 * nr]int32{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}

func edgeKernel(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, rows, cols int, tmp *[mr * nr]float32) {
	if useAVX2 {
		loadC := 0
		if beta != 0 {
			loadC = 1
		}
		kernAVX2Edge(k, &a[0], rsA, csA, &b[0], rsB, &c[0], ldc, alpha, beta, loadC, rows, &colMasks[nr-cols])
		return
	}
	edgeViaTmp(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta, rows, cols, tmp)
}

// haveAVX512 says whether the CPU and OS support the AVX-512 kernel.
var haveAVX512 = cpu.X86.HasAVX512F

// useAVX512 lets the macro-kernel do two stacked 6×16 tiles in one call to
// the 12×16 AVX-512 kernel: twelve 16-lane accumulators, twice the lanes of
// the AVX2 kernel (1.2-1.7× faster measured here). SHOAL_GEMM_AVX512=0 turns
// it off, for CPUs that lower their clock for AVX-512 under mixed load.
var useAVX512 = useAVX2 && haveAVX512 && os.Getenv("SHOAL_GEMM_AVX512") != "0"

// kernAVX512 computes the 12×16 tile whose rows 0..5 of A start at a0 and
// rows 6..11 at a1 (same strides); otherwise as kernAVX2.
//
//go:noescape
func kernAVX512(k int, a0, a1 *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)

func microKernel2(k int, a0, a1 []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	loadC := 0
	if beta != 0 {
		loadC = 1
	}
	kernAVX512(k, &a0[0], &a1[0], rsA, csA, &b[0], rsB, &c[0], ldc, alpha, beta, loadC)
}

func microKernel(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	if useAVX2 {
		loadC := 0
		if beta != 0 {
			loadC = 1
		}
		kernAVX2(k, &a[0], rsA, csA, &b[0], rsB, &c[0], ldc, alpha, beta, loadC)
		return
	}
	kernGo(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta)
}

// fmaPeak runs n iterations of 12 independent AVX2 FMAs (192 flops); only
// for measuring the core's peak (peak_amd64.s). Needs useAVX2.
//
//go:noescape
func fmaPeak(n int)

// haveFMAPeak says whether fmaPeak can run here.
var haveFMAPeak = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// fmaPeak512 is fmaPeak with 16-lane FMAs (384 flops an iteration). Needs
// haveAVX512.
//
//go:noescape
func fmaPeak512(n int)

// gemv128AVX512 sets y[0:128] = alpha·Σ_l x[l·incx]·b[l·ldb+j] (+ beta·y
// when loadC is non-zero), walking k in order (gemv_amd64.s). Needs
// haveAVX512.
//
//go:noescape
func gemv128AVX512(k int, x *float32, incx int, b *float32, ldb int, y *float32, alpha, beta float32, loadC int)

// gemv16AVX512 is gemv128AVX512 over 16 columns.
//
//go:noescape
func gemv16AVX512(k int, x *float32, incx int, b *float32, ldb int, y *float32, alpha, beta float32, loadC int)

// gemvCols computes the first cols columns (a multiple of 16) of the row
// product C = alpha·x·B + beta·C, with the bounds checked once here.
func gemvCols(k int, x []float32, incx int, b []float32, ldb int, c []float32, alpha, beta float32, cols int) {
	if k < 1 || cols%nr != 0 || (k-1)*incx >= len(x) || (k-1)*ldb+cols > len(b) || cols > len(c) {
		panic(fmt.Sprintf("gemm: gemv out of bounds: k=%d cols=%d len(x)=%d incx=%d len(b)=%d ldb=%d len(c)=%d", k, cols, len(x), incx, len(b), ldb, len(c)))
	}
	loadC := 0
	if beta != 0 {
		loadC = 1
	}
	j := 0
	for ; j+8*nr <= cols; j += 8 * nr {
		gemv128AVX512(k, &x[0], incx, &b[j], ldb, &c[j], alpha, beta, loadC)
	}
	for ; j < cols; j += nr {
		gemv16AVX512(k, &x[0], incx, &b[j], ldb, &c[j], alpha, beta, loadC)
	}
}

// haveGemv says whether gemvCols can run here.
func haveGemv() bool { return useAVX512 }

// kernAVX512x16 computes the 16×16 tile whose rows 0..5 of A start at a0,
// rows 6..11 at a1 and rows 12..15 at a2 (same strides); otherwise as
// kernAVX2 (kernel16_amd64.s).
//
//go:noescape
func kernAVX512x16(k int, a0, a1, a2 *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)

func microKernel3(k int, a0, a1, a2 []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	loadC := 0
	if beta != 0 {
		loadC = 1
	}
	kernAVX512x16(k, &a0[0], &a1[0], &a2[0], rsA, csA, &b[0], rsB, &c[0], ldc, alpha, beta, loadC)
}

// kernAVX512Wide computes the 6×32 tile of C at c from 6 rows of A at a and
// the two 16-column panels of B at b0 and b1 (same stride rsB); otherwise
// as kernAVX2 (kernelwide_amd64.s).
//
//go:noescape
func kernAVX512Wide(k int, a *float32, rsA, csA int, b0, b1 *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)

func microKernelWide(k int, a []float32, rsA, csA int, b0, b1 []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	loadC := 0
	if beta != 0 {
		loadC = 1
	}
	kernAVX512Wide(k, &a[0], rsA, csA, &b0[0], &b1[0], rsB, &c[0], ldc, alpha, beta, loadC)
}

//go:generate go run gen_bcst.go

// bcstKernel is one generated R×32 or R×16 tile (kernelbcst_amd64.s): A's
// rows in groups of 6 (group g at a+g·aNext, row i of a group at
// i·rsA, k steps of csA), B's first 16 columns at b and the next 16 at
// b+bNext (k steps of rsB), the last 16 columns masked by the low bits of
// mask. flags: 1 reads C (beta), 2 adds bias[j], 4 applies ReLU.
type bcstKernel func(k int, a *float32, aNext, rsA, csA int, b *float32, bNext, rsB int, c *float32, ldc int, alpha, beta float32, flags int, bias *float32, mask int)

// haveBcst says whether the generated tiles can run here.
func haveBcst() bool { return useAVX512 }

// bcstCall runs the generated tile for rows×cols (cols ≤ 32: the R×32
// kernels when cols > 16, rows ≤ 12, else the R×16 ones, rows ≤ 24) with
// flags as bcstKernel's. It checks nothing: macroBcst checks a whole
// block's bounds once (per tile, the checks cost up to a fifth of a
// k = 32 product).
func bcstCall(k int, a *float32, aNext, rsA, csA int, b *float32, bNext, rsB int, c *float32, ldc int, alpha, beta float32, rows, cols, flags int, bias *float32) {
	if cols > nr {
		bcst32[rows](k, a, aNext, rsA, csA, b, bNext, rsB, c, ldc, alpha, beta, flags, bias, 1<<(cols-nr)-1)
		return
	}
	bcst16[rows](k, a, aNext, rsA, csA, b, bNext, rsB, c, ldc, alpha, beta, flags, bias, 1<<cols-1)
}

// Sizes of the generated tiles (see gen_bcst.go), for the tiling.
const (
	bcst32Rows = len(bcst32) - 1
	bcst16Rows = len(bcst16) - 1
)
