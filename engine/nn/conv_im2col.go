package nn

import "math"

// span returns, for kernel column kx, the range [lo, hi) of output columns
// whose input column ox·stride-pad+kx lies inside the image.
func (l *conv2d) span(kx int) (lo, hi int) {
	off := kx - l.pad
	// ox·s + off >= 0  <=>  ox >= ceil(-off/s)
	if off < 0 {
		lo = (-off + l.stride - 1) / l.stride
	}
	// ox·s + off <= w-1  <=>  ox <= (w-1-off)/s
	if l.w-1-off < 0 {
		return lo, lo
	}
	hi = min(l.wo, (l.w-1-off)/l.stride+1)
	return lo, max(lo, hi)
}

// im2col fills col ([C·K·K, n·Ho·Wo]) from n samples of x, or with add
// set, the reverse (col2im): it adds col back into x. The same index walk
// serves both.
func (l *conv2d) im2col(x, col []float32, n int, add bool) {
	hw := l.ho * l.wo
	nhw := n * hw
	chw := l.c * l.h * l.w
	r := 0
	for ch := 0; ch < l.c; ch++ {
		for ky := 0; ky < l.k; ky++ {
			for kx := 0; kx < l.k; kx++ {
				lo, hi := l.span(kx)
				row := col[r*nhw : (r+1)*nhw]
				r++
				if l.stride == 1 && l.ho == l.h && l.wo == l.w {
					l.shiftRow(x, row, n, ch, ky, kx, lo, hi, add)
					continue
				}
				for i := 0; i < n; i++ {
					plane := x[i*chw+ch*l.h*l.w : i*chw+(ch+1)*l.h*l.w]
					dst := row[i*hw : (i+1)*hw]
					for oy := 0; oy < l.ho; oy++ {
						d := dst[oy*l.wo : (oy+1)*l.wo]
						iy := oy*l.stride - l.pad + ky
						if iy < 0 || iy >= l.h {
							if !add {
								clear(d)
							}
							continue
						}
						line := plane[iy*l.w : (iy+1)*l.w]
						ix0 := lo*l.stride - l.pad + kx
						if add {
							if l.stride == 1 {
								src := d[lo:hi]
								dl := line[ix0 : ix0+len(src)]
								for j, v := range src {
									dl[j] += v
								}
							} else {
								for ox, ix := lo, ix0; ox < hi; ox, ix = ox+1, ix+l.stride {
									line[ix] += d[ox]
								}
							}
							continue
						}
						clear(d[:lo])
						clear(d[hi:])
						if l.stride == 1 {
							copy(d[lo:hi], line[ix0:])
						} else {
							for ox, ix := lo, ix0; ox < hi; ox, ix = ox+1, ix+l.stride {
								d[ox] = line[ix]
							}
						}
					}
				}
			}
		}
	}
}

// shiftRow is im2col for one (ch, ky, kx) row of a "same" convolution
// (stride 1, output as large as the input). Then the row is the input
// plane shifted by (ky-pad)·w + (kx-pad) in flat order, so it is one long
// copy (or add) plus zeroing what falls outside the image: whole rows at
// the top or bottom, and columns outside [lo, hi) that the flat shift
// wraps around to the neighbouring image row. Per-segment copies of a
// few dozen floats cost about twice as much (measured on cnn).
func (l *conv2d) shiftRow(x, row []float32, n, ch, ky, kx, lo, hi int, add bool) {
	hw := l.h * l.w
	chw := l.c * hw
	off := (ky-l.pad)*l.w + (kx - l.pad)
	qlo, qhi := min(max(0, -off), hw), max(min(hw, hw-off), 0)
	// With AVX2, columns outside [lo, hi) are cleared by ANDing a mask
	// into the copy (or add) itself rather than by a pass of single stores.
	var mask []float32
	if haveAVX2 && (lo > 0 || hi < l.w) {
		mask = l.edgeMask(kx, lo, hi)
	}
	for i := 0; i < n; i++ {
		plane := x[i*chw+ch*hw : i*chw+(ch+1)*hw]
		dst := row[i*hw : (i+1)*hw]
		if add {
			if qlo >= qhi {
				continue
			}
			if mask != nil {
				src := dst[qlo:qhi]
				p := plane[qlo+off : qhi+off]
				m := mask[qlo:qhi]
				p, m = p[:len(src)], m[:len(src)]
				addMaskAVX2(&p[0], &src[0], &m[0], len(src))
				continue
			}
			// Gradients of padded positions must not wrap into the plane.
			l.clearEdges(dst, lo, hi)
			addTo(plane[qlo+off:qhi+off], dst[qlo:qhi])
			continue
		}
		if qlo < qhi {
			if mask != nil {
				d := dst[qlo:qhi]
				src := plane[qlo+off : qhi+off]
				m := mask[qlo:qhi]
				src, m = src[:len(d)], m[:len(d)]
				copyMaskAVX2(&d[0], &src[0], &m[0], len(d))
			} else {
				copy(dst[qlo:qhi], plane[qlo+off:qhi+off])
			}
		}
		clear(dst[:qlo])
		clear(dst[max(qhi, qlo):])
		if mask == nil {
			l.clearEdges(dst, lo, hi)
		}
	}
}

// edgeMask returns, for kernel column kx, a plane-sized mask whose
// elements are all ones in the columns [lo, hi) and 0 elsewhere, built on
// first use (before a pass is split, see ensureMasks).
func (l *conv2d) edgeMask(kx, lo, hi int) []float32 {
	l.ensureMasks()
	return l.masks[kx*l.h*l.w : (kx+1)*l.h*l.w]
}

// ensureMasks builds the edge masks if they are not built yet. A pass split
// across goroutines calls it first, so that its parts only read them.
func (l *conv2d) ensureMasks() {
	hw := l.h * l.w
	if len(l.masks) != l.k*hw {
		l.masks = grow(l.masks, l.k*hw)
		ones := math.Float32frombits(^uint32(0))
		for k := 0; k < l.k; k++ {
			klo, khi := l.span(k)
			m := l.masks[k*hw : (k+1)*hw]
			for q := range m {
				m[q] = 0
				if c := q % l.w; c >= klo && c < khi {
					m[q] = ones
				}
			}
		}
	}
}

// clearEdges zeroes columns outside [lo, hi) in every image row of dst:
// usually one float per row, so plain stores, not clear calls (measured).
func (l *conv2d) clearEdges(dst []float32, lo, hi int) {
	if lo == 0 && hi == l.w {
		return
	}
	for base := 0; base+l.w <= len(dst); base += l.w {
		d := dst[base : base+l.w]
		for j := 0; j < lo && j < len(d); j++ {
			d[j] = 0
		}
		for j := hi; j < len(d); j++ {
			d[j] = 0
		}
	}
}
