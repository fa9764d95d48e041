//go:build !amd64 || purego

package nn

var haveAVX512 = false

func lstmCellAVX2(z, b, cp, cn, hn, tc *float32, h int) { panic("nn: no AVX2 kernels") }

func lstmRecAVX2(h, u, z *float32, k, cols int) { panic("nn: no AVX2 kernels") }

func lstmCellAVX512(z, b, cp, cn, hn, tc *float32, h int) { panic("nn: no AVX-512 kernels") }
