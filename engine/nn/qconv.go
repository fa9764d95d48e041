package nn

import (
	"github.com/shoalmesh/shoal/engine/qgemm"
)

// qconv is conv2d with int8 weights, computed channels-last (HWC) without
// a column matrix: each sample is quantized once into a zero-padded HWC
// image of codes, and qgemm.GemmTaps reads it in place, one tap per kernel
// position (the tap's shift in the image) and one product row per output
// pixel. The float32 conv builds a C·K·K-row column matrix instead; for
// int8 that copy would cost more than the arithmetic.
//
// Its output is HWC too ([n, Ho, Wo, F]): a following maxpool or conv works
// in HWC, and a dense layer after flatten has its kernel rows permuted to
// HWC order when the model is built (see quantBuild), so the float CHW
// order is never rebuilt on the way.
type qconv struct {
	c, h, w, f, k, stride, pad, ho, wo int
	act                                actKind
	inHWC                              bool // input layout: HWC from a qconv/qmaxpool, else CHW
	cp, hp, wp                         int  // channels rounded up to 4, padded height and width
	wq                                 *qgemm.Weights
	offs                               []int // byte offset of each tap in the image
	max                                float32

	img     []uint8 // one sample's padded image; the border stays the code of 0
	imgFill uint8   // the code the border was filled with
	row     []uint8
	as      []float32
	tmp     []float32
	y       []float32
}

func (l *qconv) kind() string          { return "conv2d" }
func (l *qconv) params() []paramDef    { return nil }
func (l *qconv) bind(_, _ [][]float32) {}
func (l *qconv) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}

// newQConv packs the int8 kernel [F, C, K, K] as a (K·K·Cp)×F matrix whose
// row (ky·K+kx)·Cp + ch matches the image's byte order for that tap.
func newQConv(l *conv2d, inHWC bool, wq []int8, scale, bias []float32) (*qconv, error) {
	q := &qconv{c: l.c, h: l.h, w: l.w, f: l.f, k: l.k, stride: l.stride, pad: l.pad, ho: l.ho, wo: l.wo, act: l.act, inHWC: inHWC}
	q.cp = (q.c + 3) &^ 3
	q.hp, q.wp = q.h+2*q.pad, q.w+2*q.pad
	kk := q.k * q.k
	mat := make([]int8, kk*q.cp*q.f)
	for f := 0; f < q.f; f++ {
		for ch := 0; ch < q.c; ch++ {
			for t := 0; t < kk; t++ {
				mat[(t*q.cp+ch)*q.f+f] = wq[(f*q.c+ch)*kk+t]
			}
		}
	}
	w, err := qgemm.Pack(kk*q.cp, q.f, mat, q.f, 1, scale, bias)
	if err != nil {
		return nil, err
	}
	q.wq = w
	for ky := 0; ky < q.k; ky++ {
		for kx := 0; kx < q.k; kx++ {
			q.offs = append(q.offs, (ky*q.wp+kx)*q.cp)
		}
	}
	return q, nil
}

func (l *qconv) forward(c *batchCtx, x []float32) []float32 {
	n := c.n
	chw := l.c * l.h * l.w
	out := l.ho * l.wo * l.f
	l.y = grow(l.y, n*out)
	size := l.hp * l.wp * l.cp
	sh := uint8(qgemm.Shift())
	if len(l.img) != size || l.imgFill != sh {
		l.img = make([]uint8, size)
		for i := range l.img {
			l.img[i] = sh
		}
		l.imgFill = sh
	}
	var f qgemm.Flags
	if l.act == actReLU {
		f = qgemm.ReLU
	}
	// Stride 1: one product per sample over every pixel of the padded
	// width (pixel p = oy·Wp + ox); the Wp−Wo pixels past each row's end
	// are computed and dropped, which costs less than a call per row.
	rows := (l.ho-1)*l.wp + l.wo
	if l.stride == 1 {
		l.tmp = grow(l.tmp, rows*l.f)
		l.as = grow(l.as, rows)
	} else {
		l.as = grow(l.as, l.wo)
	}
	for i := 0; i < n; i++ {
		xi := x[i*chw : (i+1)*chw]
		m := l.max
		if m <= 0 {
			m = qgemm.MaxAbs(xi)
		}
		s, inv := qgemm.RowScale(m)
		l.fillImage(xi, inv)
		yi := l.y[i*out : (i+1)*out]
		if l.stride == 1 {
			as := l.as[:rows]
			for r := range as {
				as[r] = s
			}
			qgemm.GemmTaps(rows, l.img, l.cp, l.offs, as, l.wq, l.tmp, l.f, f)
			for oy := 0; oy < l.ho; oy++ {
				copy(yi[oy*l.wo*l.f:(oy+1)*l.wo*l.f], l.tmp[oy*l.wp*l.f:])
			}
			continue
		}
		as := l.as[:l.wo]
		for r := range as {
			as[r] = s
		}
		for oy := 0; oy < l.ho; oy++ {
			base := oy * l.stride * l.wp * l.cp
			qgemm.GemmTaps(l.wo, l.img[base:], l.stride*l.cp, l.offs, as, l.wq, yi[oy*l.wo*l.f:], l.f, f)
		}
	}
	if l.act != actReLU && l.act != actLinear {
		applyAct(l.act, l.y, l.f)
	}
	return l.y
}

// fillImage writes the codes of one sample into the padded image.
func (l *qconv) fillImage(xi []float32, inv float32) {
	if l.inHWC && l.cp == l.c {
		for y := 0; y < l.h; y++ {
			dst := l.img[((y+l.pad)*l.wp+l.pad)*l.cp:]
			qgemm.QuantizeTo(dst[:l.w*l.c], xi[y*l.w*l.c:(y+1)*l.w*l.c], inv)
		}
		return
	}
	// HWC with a channel count not a multiple of 4: a row at a time,
	// spread to the padded channel stride.
	l.row = growU8(l.row, l.w*l.c)
	if l.inHWC {
		for y := 0; y < l.h; y++ {
			base := ((y+l.pad)*l.wp + l.pad) * l.cp
			qgemm.QuantizeTo(l.row, xi[y*l.w*l.c:(y+1)*l.w*l.c], inv)
			for x := 0; x < l.w; x++ {
				copy(l.img[base+x*l.cp:base+x*l.cp+l.c], l.row[x*l.c:])
			}
		}
		return
	}
	// CHW input: a row of one channel at a time, scattered to its pixels.
	for ch := 0; ch < l.c; ch++ {
		for y := 0; y < l.h; y++ {
			base := ((y+l.pad)*l.wp+l.pad)*l.cp + ch
			r := l.row[:l.w]
			qgemm.QuantizeTo(r, xi[(ch*l.h+y)*l.w:(ch*l.h+y+1)*l.w], inv)
			for x, v := range r {
				l.img[base+x*l.cp] = v
			}
		}
	}
}

// hwcPool is maxpool2d on channels-last activations (after a qconv).
type hwcPool struct {
	c, h, w, pool, stride, ho, wo int
	y                             []float32
}

func (l *hwcPool) kind() string          { return "maxpool2d" }
func (l *hwcPool) params() []paramDef    { return nil }
func (l *hwcPool) bind(_, _ [][]float32) {}
func (l *hwcPool) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}

func (l *hwcPool) forward(c *batchCtx, x []float32) []float32 {
	in, out := l.h*l.w*l.c, l.ho*l.wo*l.c
	l.y = grow(l.y, c.n*out)
	if l.pool == 2 && l.stride == 2 {
		l.forward2(x, c.n)
		return l.y
	}
	for i := 0; i < c.n; i++ {
		xi := x[i*in : (i+1)*in]
		for oy := 0; oy < l.ho; oy++ {
			for ox := 0; ox < l.wo; ox++ {
				dst := l.y[i*out+(oy*l.wo+ox)*l.c:][:l.c]
				first := true
				for ky := 0; ky < l.pool; ky++ {
					for kx := 0; kx < l.pool; kx++ {
						src := xi[((oy*l.stride+ky)*l.w+ox*l.stride+kx)*l.c:][:l.c]
						if first {
							copy(dst, src)
							first = false
							continue
						}
						for ch, v := range src {
							dst[ch] = max(dst[ch], v)
						}
					}
				}
			}
		}
	}
	return l.y
}

// forward2 is the common 2×2, stride 2 pool: four rows of C floats per
// output pixel, compared with plain ifs (Go's max branches on NaN and
// signed zeros, which cost half of an int8 cnn pass when this loop used it).
func (l *hwcPool) forward2(x []float32, n int) {
	in, out, c := l.h*l.w*l.c, l.ho*l.wo*l.c, l.c
	rowIn := l.w * c
	for i := 0; i < n; i++ {
		xi := x[i*in : (i+1)*in]
		for oy := 0; oy < l.ho; oy++ {
			for ox := 0; ox < l.wo; ox++ {
				p := (2*oy*l.w + 2*ox) * c
				a, b := xi[p:p+c], xi[p+c:p+2*c]
				d, e := xi[p+rowIn:p+rowIn+c], xi[p+rowIn+c:p+rowIn+2*c]
				dst := l.y[i*out+(oy*l.wo+ox)*c:][:c]
				b, d, e = b[:len(a)], d[:len(a)], e[:len(a)]
				for ch, v := range a {
					if w := b[ch]; w > v {
						v = w
					}
					if w := d[ch]; w > v {
						v = w
					}
					if w := e[ch]; w > v {
						v = w
					}
					dst[ch] = v
				}
			}
		}
	}
}

// toCHW turns channels-last activations back into the engine's CHW order,
// for a layer after a qconv that is neither a conv, a pool, a flatten
// into a dense nor element-wise.
type toCHW struct {
	c, h, w int
	y       []float32
}

func (l *toCHW) kind() string          { return "to_chw" }
func (l *toCHW) params() []paramDef    { return nil }
func (l *toCHW) bind(_, _ [][]float32) {}
func (l *toCHW) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}

func (l *toCHW) forward(c *batchCtx, x []float32) []float32 {
	sz := l.c * l.h * l.w
	l.y = grow(l.y, c.n*sz)
	for i := 0; i < c.n; i++ {
		for p := 0; p < l.h*l.w; p++ {
			for ch := 0; ch < l.c; ch++ {
				l.y[i*sz+ch*l.h*l.w+p] = x[i*sz+p*l.c+ch]
			}
		}
	}
	return l.y
}
