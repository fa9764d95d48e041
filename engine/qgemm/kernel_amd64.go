//go:build !purego

package qgemm

import (
	"os"

	"golang.org/x/sys/cpu"
)

// asmFunc is the signature of every generated kernel (kernels_amd64.go).
type asmFunc func(taps int, offs *int, qpt int, a *uint8, lda int, b *int8, ldb int, corr *int32, ws, as, bias, c *float32, ldc int, flags int)

var (
	haveVNNI = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	haveAVX2 = cpu.X86.HasAVX2
)

// vnniFuncs[vecs][rows], avx2Funcs[rows].
var (
	vnniFuncs = [5][9]asmFunc{
		1: {1: kernVNNI_1x1, 2: kernVNNI_2x1, 4: kernVNNI_4x1, 8: kernVNNI_8x1},
		2: {1: kernVNNI_1x2, 2: kernVNNI_2x2, 4: kernVNNI_4x2, 8: kernVNNI_8x2},
		4: {1: kernVNNI_1x4, 2: kernVNNI_2x4, 4: kernVNNI_4x4, 6: kernVNNI_6x4},
	}
	avx2Funcs = [5]asmFunc{1: kernAVX2_1x1, 2: kernAVX2_2x1, 4: kernAVX2_4x1}
)

var vnniKernels = kernelSet{
	name: "avx512-vnni", shift: 128, levels: 127,
	vecs: []int{4, 2, 1},
	rows: [5][]int{1: {8, 4, 2, 1}, 2: {8, 4, 2, 1}, 4: {6, 4, 2, 1}},
	tile: func(t *tile) { callAsm(vnniFuncs[t.vecs][t.rows], t) },
}

var avx2Kernels = kernelSet{
	name: "avx2", shift: 64, levels: 63,
	vecs: []int{1},
	rows: [5][]int{1: {4, 2, 1}},
	tile: func(t *tile) { callAsm(avx2Funcs[t.rows], t) },
}

func callAsm(fn asmFunc, t *tile) {
	w := t.w
	fn(len(t.taps), &t.taps[0], t.qpt, &t.a[t.aoff], t.lda, &w.data[4*t.j0], 4*w.np,
		&t.corr[0], &w.scale[t.j0], &t.as[0], &w.bias[t.j0], &t.c[t.coff], t.ldc, int(t.f))
}

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
