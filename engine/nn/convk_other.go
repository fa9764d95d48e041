//go:build !amd64 || purego

package nn

// Without the AVX-512 tiles, inference convolves through im2col as
// training does.
var haveConvK = false

func convK28x16g(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int) {
	panic("nn: no AVX-512 convolution kernels")
}

func convK14x32g(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int) {
	panic("nn: no AVX-512 convolution kernels")
}

func convK28x16b(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int) {
	panic("nn: no AVX-512 convolution kernels")
}

func convK14x32b(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int) {
	panic("nn: no AVX-512 convolution kernels")
}

func pool2CHW16(dst *float32, hw int, src *float32, ld, ho, wo int) {
	panic("nn: no AVX-512 convolution kernels")
}

func convKPool14x16g(img *float32, taps *int, ntaps int, w, out *float32, rowBytes int, bias *float32, relu int) {
	panic("nn: no AVX-512 convolution kernels")
}
