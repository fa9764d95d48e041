//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// haveConvK selects the direct convolution of conv_direct.go for
// inference; it needs AVX-512F (the kernels of convk_amd64.s, written by
// gen_convk.go). Tests switch it off to compare with the im2col path.
var haveConvK = cpu.X86.HasAVX512F

// The tiles of convk_amd64.s: convK<rows>x<filters><layout>, layout g for
// a one-channel image (4 bytes a pixel) and b for a 16-channel block of an
// NCHW16c image (64 bytes a pixel). Each computes rows output pixels of
// 16 or 32 filters: bias plus the sum over ntaps taps (byte offsets from
// img) and the tap's channels, then ReLU if relu != 0; pixel r of filter
// vector v goes to out + r·64 + v·ldb bytes.

//go:noescape
func convK28x16g(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int)

//go:noescape
func convK14x32g(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int)

//go:noescape
func convK28x16b(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int)

//go:noescape
func convK14x32b(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int)

// pool2CHW16 max-pools 2×2 windows (stride 2) of ho·2 rows of 16-float
// pixels, row y at src + y·ld floats, into 16 CHW planes hw floats apart:
// lane c of output pixel oy·wo+ox at dst + c·hw + oy·wo + ox. Maxima as
// qgemm.MaxPoolHWC takes them (convpool_amd64.s).
//
//go:noescape
func pool2CHW16(dst *float32, hw int, src *float32, ld, ho, wo int)

// convKPool14x16g is convK28x16g's one-channel tile as two output rows of
// 14 pixels (the second rowBytes further in the image), 2×2 max-pooled
// before the ReLU into 7 pixels at out + j·64.
//
//go:noescape
func convKPool14x16g(img *float32, taps *int, ntaps int, w, out *float32, rowBytes int, bias *float32, relu int)
