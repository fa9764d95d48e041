//go:build !purego

package qgemm

import (
	"fmt"
	"os"

	"golang.org/x/sys/cpu"
)

// haveSDOT: the Armv8.2 dot-product instructions (FEAT_DotProd), on
// most arm64 cores since the Cortex-A55/A75 (a Raspberry Pi 5 has them,
// a Pi 4 does not).
var haveSDOT = cpu.ARM64.HasASIMDDP

// sdotKernels use 8-bit codes (shift 128) like the Go kernel and VNNI, and
// give the same bits as both.
var sdotKernels = kernelSet{
	name: "sdot", kind: kindSDOT, shift: 128, levels: 127,
	vecs: []int{1},
	rows: [5][]int{1: {4, 2, 1}},
}

// asmTile calls the SDOT kernel for t's rows (a switch of direct calls:
// see the amd64 version for why not a table of funcs).
func asmTile(kind kernelKind, t *tile) {
	w := t.w
	taps, offs, qpt := len(t.taps), &t.taps[0], t.qpt
	a, lda, b, ldb := &t.a[t.aoff], t.lda, &w.data[4*t.j0], 4*w.np
	corr, ws, as, bias := &t.corr[0], &w.scale[t.j0], &t.as[0], &w.bias[t.j0]
	c, ldc, fl := &t.c[t.coff], t.ldc, int(t.f)
	switch {
	case kind == kindSDOT && t.vecs == 1 && t.rows == 4:
		kernSDOT_4x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case kind == kindSDOT && t.vecs == 1 && t.rows == 2:
		kernSDOT_2x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case kind == kindSDOT && t.vecs == 1 && t.rows == 1:
		kernSDOT_1x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	default:
		panic(fmt.Sprintf("qgemm: no %d×%d kernel in set %d", t.rows, t.vecs, kind))
	}
}

// available lists the kernel sets this machine can run, best first.
func available() []kernelSet {
	if haveSDOT {
		return []kernelSet{sdotKernels, goKernels}
	}
	return []kernelSet{goKernels}
}

// impl is the kernel set in use: the best available, or SHOAL_QGEMM's.
var impl = choose(os.Getenv("SHOAL_QGEMM"))

// The generated kernels (sdot_arm64.s, from gen_arm64.go).

//go:noescape
func kernSDOT_4x1(taps int, offs *int, qpt int, a *uint8, lda int, b *int8, ldb int, corr *int32, ws, as, bias, c *float32, ldc int, flags, mt int)

//go:noescape
func kernSDOT_2x1(taps int, offs *int, qpt int, a *uint8, lda int, b *int8, ldb int, corr *int32, ws, as, bias, c *float32, ldc int, flags, mt int)

//go:noescape
func kernSDOT_1x1(taps int, offs *int, qpt int, a *uint8, lda int, b *int8, ldb int, corr *int32, ws, as, bias, c *float32, ldc int, flags, mt int)
