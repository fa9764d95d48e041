//go:build !amd64 || purego

package nn

func lstmInferAVX512(x **float32, w *float32, in int, h, u *float32, hk int, b, c, hn, pool *float32, rows, units, mode int) {
	panic("nn: no AVX-512 kernels")
}
