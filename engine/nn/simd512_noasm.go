//go:build !amd64 || purego

package nn

// Without the assembly kernels every caller takes its Go loop (haveAVX512
// is false, lstm_noasm.go).
func adamAVX512(p, grad, m, v *float32, n int, c *[10]float32) { panic("nn: no AVX-512 kernels") }

func expShiftAVX512(dst, src *float32, n int, m float32) { panic("nn: no AVX-512 kernels") }
