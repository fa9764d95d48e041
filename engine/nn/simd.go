package nn

import "math"

// Element-wise loops of the conv net and Adam. Each takes the AVX2 kernel
// of simd_amd64.s where there is one (haveAVX2) and otherwise the Go loop
// beside it, which is also the reference the kernels are tested against.
// Go does not vectorise loops itself, and these passes over activations
// cost as much as the convolutions' GEMMs when written as scalar Go.

// addTo sets dst[i] += src[i] (col2im).
func addTo(dst, src []float32) {
	src = src[:len(dst)]
	if haveAVX2 && len(dst) > 0 {
		addToAVX2(&dst[0], &src[0], len(dst))
		return
	}
	for i, v := range src {
		dst[i] += v
	}
}

// biasReLU sets dst[i] = max(src[i]+b, 0).
func biasReLU(dst, src []float32, b float32) {
	src = src[:len(dst)]
	if haveAVX2 && len(dst) > 0 {
		biasReLUAVX2(&dst[0], &src[0], len(dst), b)
		return
	}
	for i, v := range src {
		dst[i] = max(v+b, 0)
	}
}

// addReLU sets dst[i] = max(dst[i]+b[i], 0): a dense layer's bias and
// ReLU on one row. Go's max has a branch for NaN and signed zeros that
// mispredicts on real activations (22 µs a step for the mlp's first layer
// as a Go loop, measured; about 2 µs in AVX2).
func addReLU(dst, b []float32) {
	b = b[:len(dst)]
	if haveAVX2 && len(dst) > 0 {
		addReLUAVX2(&dst[0], &b[0], len(dst))
		return
	}
	for i, v := range b {
		dst[i] = max(dst[i]+v, 0)
	}
}

// biasAdd sets dst[i] = src[i]+b.
func biasAdd(dst, src []float32, b float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = v + b
	}
}

// reluMaskSum sets dst[i] = dy[i] where the ReLU output y[i] is positive
// and 0 where it is +0 (its bits are 0; see reluBackward), and returns the
// sum of dst. The
// AVX2 kernel sums in 32 lanes, so the sum's rounding differs slightly
// from the Go loop's.
func reluMaskSum(dst, dy, y []float32) float32 {
	dy = dy[:len(dst)]
	y = y[:len(dst)]
	if haveAVX2 && len(dst) > 0 {
		return reluMaskSumAVX2(&dst[0], &dy[0], &y[0], len(dst))
	}
	var s float32
	for i, v := range y {
		b := math.Float32bits(v)
		m := uint32(int32(b|-b) >> 31) // all ones unless v is +0
		d := math.Float32frombits(math.Float32bits(dy[i]) & m)
		dst[i] = d
		s += d
	}
	return s
}

// dotsABt sets (beta 0) or adds to (beta 1) c[i*ldc+j] the dot product
// of row i of a (m rows of n, stride lda) and row j of b (p rows, stride
// ldb): C = A·Bᵀ for few, long rows, where a GEMM's tiles would mostly
// hold padding (the weight gradient of a conv with one input channel is
// 9×16 from k = 50,176). The AVX2 kernel takes 3×4 blocks of rows and
// multiples of 8 columns; the rest is Go.
func dotsABt(m, p, n int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || p == 0 {
		return
	}
	_ = c[(m-1)*ldc+p-1]
	if n > 0 {
		_ = a[(m-1)*lda+n-1]
		_ = b[(p-1)*ldb+n-1]
	}
	n8 := 0
	if haveAVX2 {
		n8 = n &^ 7
	}
	var blk [12]float32
	for i0 := 0; i0 < m; i0 += 3 {
		for j0 := 0; j0 < p; j0 += 4 {
			full := i0+3 <= m && j0+4 <= p && n8 > 0
			if full {
				dot3x4AVX2(&a[i0*lda], lda, &b[j0*ldb], ldb, n8, &blk)
			}
			for i := i0; i < min(i0+3, m); i++ {
				for j := j0; j < min(j0+4, p); j++ {
					lo := 0
					var s float32
					if full {
						lo, s = n8, blk[(i-i0)*4+j-j0]
					}
					ar := a[i*lda+lo : i*lda+n]
					br := b[j*ldb+lo : j*ldb+n]
					br = br[:len(ar)]
					for q, v := range ar {
						s += v * br[q]
					}
					if beta != 0 {
						s += c[i*ldc+j]
					}
					c[i*ldc+j] = s
				}
			}
		}
	}
}
