//go:build !amd64 || purego

package nn

// Without the assembly kernels every caller takes its Go loop.
var haveAVX2 = false

func addToAVX2(dst, src *float32, n int)                          { panic("nn: no AVX2 kernels") }
func biasReLUAVX2(dst, src *float32, n int, b float32)            { panic("nn: no AVX2 kernels") }
func addReLUAVX2(dst, b *float32, n int)                          { panic("nn: no AVX2 kernels") }
func reluMaskSumAVX2(dst, dy, y *float32, n int) float32          { panic("nn: no AVX2 kernels") }
func maxpool2AVX2(x, y *float32, arg *int32, base, w, ho, wo int) { panic("nn: no AVX2 kernels") }
func adamAVX2(p, grad, m, v *float32, n int, c *[10]float32)      { panic("nn: no AVX2 kernels") }

func dot3x4AVX2(a *float32, lda int, b *float32, ldb int, n int, out *[12]float32) {
	panic("nn: no AVX2 kernels")
}

func maxpool2BackAVX2(dx, dy *float32, arg *int32, base, w, ho, wo int) {
	panic("nn: no AVX2 kernels")
}

func copyMaskAVX2(dst, src, mask *float32, n int) { panic("nn: no AVX2 kernels") }
func addMaskAVX2(dst, src, mask *float32, n int)  { panic("nn: no AVX2 kernels") }
