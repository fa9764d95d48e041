//go:build !purego

package qgemm

import (
	"fmt"
	"os"

	"golang.org/x/sys/cpu"
)

var (
	haveVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	haveAVX2 = cpu.X86.HasAVX2
)

var vnniKernels = kernelSet{
	name: "avx512-vnni", kind: kindVNNI, shift: 128, levels: 127,
	vecs: []int{4, 2, 1},
	rows: [5][]int{1: {8, 4, 2, 1}, 2: {8, 4, 2, 1}, 4: {6, 4, 2, 1}},
}

var avx2Kernels = kernelSet{
	name: "avx2", kind: kindAVX2, shift: 64, levels: 63,
	vecs: []int{1},
	rows: [5][]int{1: {4, 2, 1}},
}

// asmTile calls the kernel for t's shape. It is a switch over direct
// calls, not a table of func values: arguments passed through a func
// value escape, which would put every tile (and run's edge buffer) on the
// heap.
func asmTile(kind kernelKind, t *tile) {
	w := t.w
	taps, offs, qpt := len(t.taps), &t.taps[0], t.qpt
	a, lda, b, ldb := &t.a[t.aoff], t.lda, &w.data[4*t.j0], 4*w.np
	corr, ws, as, bias := &t.corr[0], &w.scale[t.j0], &t.as[0], &w.bias[t.j0]
	c, ldc, fl := &t.c[t.coff], t.ldc, int(t.f)
	switch tileKey(kind, t.vecs, t.rows) {
	case tileKey(kindVNNI, 1, 8):
		kernVNNI_8x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 1, 4):
		kernVNNI_4x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 1, 2):
		kernVNNI_2x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 1, 1):
		kernVNNI_1x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 2, 8):
		kernVNNI_8x2(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 2, 4):
		kernVNNI_4x2(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 2, 2):
		kernVNNI_2x2(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 2, 1):
		kernVNNI_1x2(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 4, 6):
		kernVNNI_6x4(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 4, 4):
		kernVNNI_4x4(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 4, 2):
		kernVNNI_2x4(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindVNNI, 4, 1):
		kernVNNI_1x4(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindAVX2, 1, 4):
		kernAVX2_4x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindAVX2, 1, 2):
		kernAVX2_2x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	case tileKey(kindAVX2, 1, 1):
		kernAVX2_1x1(taps, offs, qpt, a, lda, b, ldb, corr, ws, as, bias, c, ldc, fl, t.mt)
	default:
		panic(fmt.Sprintf("qgemm: no %d×%d kernel in set %d", t.rows, t.vecs, kind))
	}
}

func tileKey(kind kernelKind, vecs, rows int) int { return int(kind)<<8 | vecs<<4 | rows }

// available lists the kernel sets this machine can run, best first.
func available() []kernelSet {
	var ks []kernelSet
	if haveVNNI {
		ks = append(ks, vnniKernels)
	}
	if haveAVX2 {
		ks = append(ks, avx2Kernels)
	}
	return append(ks, goKernels)
}

// impl is the kernel set in use: the best available, or SHOAL_QGEMM's.
var impl = choose(os.Getenv("SHOAL_QGEMM"))
