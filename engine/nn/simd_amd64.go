//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// haveAVX2 selects the AVX2 kernels of simd_amd64.s (dot3x4AVX2 also
// uses FMA, which every AVX2 CPU has but is checked anyway); tests
// switch it off to compare them with the Go loops of simd.go.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// addToAVX2: dst[i] += src[i] for i < n.
//
//go:noescape
func addToAVX2(dst, src *float32, n int)

// biasReLUAVX2: dst[i] = max(src[i]+b, 0) with Go's max (NaN stays NaN,
// -0 becomes +0).
//
//go:noescape
func biasReLUAVX2(dst, src *float32, n int, b float32)

// addReLUAVX2: dst[i] = max(dst[i]+b[i], 0) with Go's max, as biasReLUAVX2.
//
//go:noescape
func addReLUAVX2(dst, b *float32, n int)

// reluMaskSumAVX2: dst[i] = dy[i] where the bits of y[i] are not 0, else
// 0; returns the sum of dst (in 32 lanes, then folded).
//
//go:noescape
func reluMaskSumAVX2(dst, dy, y *float32, n int) float32

// maxpool2AVX2 is maxpool.forward2 for one plane x of width w: ho×wo
// outputs of 2×2 windows with stride 2 into y, and into arg the index of
// each maximum, counted from base (the plane's offset in its sample).
//
//go:noescape
func maxpool2AVX2(x, y *float32, arg *int32, base, w, ho, wo int)

// adamAVX2 is adam.stepRange's default case (no weight decay) for the
// first n&^7 elements; c holds b1, 1-b1, b2, 1-b2, step, invSqrtBC2, eps
// and the flush thresholds for gradients, first and second moments.
//
//go:noescape
func adamAVX2(p, grad, m, v *float32, n int, c *[10]float32)

// dot3x4AVX2: out[i*4+j] = Σ_{p<n} a[i*lda+p]·b[j*ldb+p] (i < 3, j < 4)
// for n a multiple of 8.
//
//go:noescape
func dot3x4AVX2(a *float32, lda int, b *float32, ldb int, n int, out *[12]float32)

// maxpool2BackAVX2 writes all inputs of the 2×2 windows (stride 2) of the
// plane dx of width w: dy where arg (counted from base) has the window's
// maximum, 0 elsewhere.
//
//go:noescape
func maxpool2BackAVX2(dx, dy *float32, arg *int32, base, w, ho, wo int)

// copyMaskAVX2: dst[i] = src[i] & mask[i] (bit patterns).
//
//go:noescape
func copyMaskAVX2(dst, src, mask *float32, n int)

// addMaskAVX2: dst[i] += src[i] & mask[i] (bit patterns).
//
//go:noescape
func addMaskAVX2(dst, src, mask *float32, n int)
