package qgemm

import "math"

// MaxPoolHWC max-pools one channels-last image between two products of a
// convolutional network and returns the largest |value| it wrote, the
// number the next layer's quantizer needs (so that it does not read the
// pooled image a second time to find it).
//
// src holds rows of c-channel pixels, row y at src[y*ld:] (ld floats, at
// least the pixels the windows read times c: a convolution's output may
// be wider than its valid part). dst gets ho×wo×c values, packed. The
// window is pool×pool, moved by stride. The maximum of a window keeps the
// first of equal values, like `if v > m { m = v }` does, so that the
// AVX-512 loop and the Go one agree bit for bit on signed zeros too.
func MaxPoolHWC(dst, src []float32, ld, c, pool, stride, ho, wo int) float32 {
	dst = dst[:ho*wo*c]
	var m float32
	if useAsmActs && pool == 2 && stride == 2 && c%16 == 0 && ho > 0 && wo > 0 {
		_ = src[(2*ho-1)*ld+2*wo*c-1] // bounds, before the assembly reads
		for oy := 0; oy < ho; oy++ {
			r0 := src[2*oy*ld:]
			m = max(m, pool2Row512(&dst[oy*wo*c], &r0[0], &r0[ld], wo, c))
		}
		return m
	}
	for oy := 0; oy < ho; oy++ {
		for ox := 0; ox < wo; ox++ {
			d := dst[(oy*wo+ox)*c : (oy*wo+ox+1)*c]
			copy(d, src[oy*stride*ld+ox*stride*c:][:c])
			for ky := 0; ky < pool; ky++ {
				for kx := 0; kx < pool; kx++ {
					if ky == 0 && kx == 0 {
						continue
					}
					s := src[(oy*stride+ky)*ld+(ox*stride+kx)*c:][:c]
					for ch, v := range s {
						if v > d[ch] {
							d[ch] = v
						}
					}
				}
			}
			for _, v := range d {
				m = max(m, math.Float32frombits(math.Float32bits(v)&0x7fffffff))
			}
		}
	}
	return m
}
