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
//
// A max pool right after the conv is done by the conv itself (pool set),
// image by image while the conv's output is still in cache: a batch of
// 64 MNIST images has a 3 MB first feature map, which a separate pool
// layer would write out and read back.
type qconv struct {
	c, h, w, f, k, stride, pad, ho, wo int
	act                                actKind
	inHWC                              bool // input layout: HWC from a qconv/qmaxpool, else CHW
	gray                               bool // one channel: taps are 4 pixels of a kernel row (see newQConv)
	cp, hp, wp                         int  // channels rounded up to 4, padded height and width
	px                                 int  // bytes per pixel in the image: 1 (gray) or cp
	wq                                 *qgemm.Weights
	offs                               []int // byte offset of each tap in the image
	max                                float32
	pool                               *pool2d // fused max pool, or nil

	img     []uint8 // one sample's padded image; the border stays the code of 0
	imgFill uint8   // the code the border was filled with
	row     []uint8
	as      []float32
	tmp     []float32
	y       []float32
}

// pool2d is a max pool's geometry: its window, step and output size.
type pool2d struct{ pool, stride, ho, wo int }

func (l *qconv) kind() string          { return "conv2d" }
func (l *qconv) params() []paramDef    { return nil }
func (l *qconv) bind(_, _ [][]float32) {}
func (l *qconv) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}

// newQConv packs the int8 kernel [F, C, K, K] as a (K·K·Cp)×F matrix whose
// row (ky·K+kx)·Cp + ch matches the image's byte order for that tap.
//
// With one input channel (gray) that layout would pad every pixel to four
// bytes, three of them multiplied by zero weights. Instead the image has
// one byte per pixel and a tap is four neighbouring pixels of a kernel row:
// K·⌈K/4⌉ taps (3 instead of 9 quads for a 3×3 kernel), the kernel's
// columns kx ≥ K zero. The int32 sums are the same, only summed in
// another order, so the results are bit for bit those of the plain layout.
func newQConv(l *conv2d, inHWC, gray bool, wq []int8, scale, bias []float32) (*qconv, error) {
	q := &qconv{c: l.c, h: l.h, w: l.w, f: l.f, k: l.k, stride: l.stride, pad: l.pad, ho: l.ho, wo: l.wo, act: l.act, inHWC: inHWC}
	q.gray = gray && q.c == 1
	q.cp = (q.c + 3) &^ 3
	q.hp, q.wp = q.h+2*q.pad, q.w+2*q.pad
	kk := q.k * q.k
	var mat []int8
	rows := 0
	if q.gray {
		kq := (q.k + 3) / 4
		rows = q.k * kq * 4
		mat = make([]int8, rows*q.f)
		for f := 0; f < q.f; f++ {
			for ky := 0; ky < q.k; ky++ {
				for kx := 0; kx < q.k; kx++ {
					mat[((ky*kq+kx/4)*4+kx%4)*q.f+f] = wq[f*kk+ky*q.k+kx]
				}
			}
		}
		q.px = 1
		for ky := 0; ky < q.k; ky++ {
			for j := 0; j < kq; j++ {
				q.offs = append(q.offs, ky*q.wp+4*j)
			}
		}
	} else {
		rows = kk * q.cp
		mat = make([]int8, rows*q.f)
		for f := 0; f < q.f; f++ {
			for ch := 0; ch < q.c; ch++ {
				for t := 0; t < kk; t++ {
					mat[(t*q.cp+ch)*q.f+f] = wq[(f*q.c+ch)*kk+t]
				}
			}
		}
		q.px = q.cp
		for ky := 0; ky < q.k; ky++ {
			for kx := 0; kx < q.k; kx++ {
				q.offs = append(q.offs, (ky*q.wp+kx)*q.cp)
			}
		}
	}
	w, err := qgemm.Pack(rows, q.f, mat, q.f, 1, scale, bias)
	if err != nil {
		return nil, err
	}
	q.wq = w
	return q, nil
}

// outSize is one sample's output: the pool's when one is fused.
func (l *qconv) outSize() int {
	if l.pool != nil {
		return l.pool.ho * l.pool.wo * l.f
	}
	return l.ho * l.wo * l.f
}

func (l *qconv) forward(c *batchCtx, x []float32) []float32 {
	n := c.n
	chw := l.c * l.h * l.w
	out := l.outSize()
	l.y = grow(l.y, n*out)
	// A gray tap reads up to 3 bytes past the last pixel (zero weights).
	size := l.hp*l.wp*l.px + 4
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
	// The products go to tmp, rows of ldt pixels, except for a strided
	// conv without a pool, which writes its output in place.
	rows, ldt := (l.ho-1)*l.wp+l.wo, l.wp
	if l.stride != 1 {
		rows, ldt = l.ho*l.wo, l.wo
	}
	direct := l.stride != 1 && l.pool == nil
	if !direct {
		l.tmp = grow(l.tmp, rows*l.f)
	}
	l.as = grow(l.as, max(rows, l.wo))
	for i := 0; i < n; i++ {
		xi := x[i*chw : (i+1)*chw]
		m := l.max
		if m <= 0 {
			m = qgemm.MaxAbs(xi)
		}
		s, inv := qgemm.RowScale(m)
		l.fillImage(xi, inv)
		yi := l.y[i*out : (i+1)*out]
		dst := l.tmp
		if direct {
			dst = yi
		}
		as := l.as
		for r := range as {
			as[r] = s
		}
		if l.stride == 1 {
			qgemm.GemmTaps(rows, l.img, l.px, l.offs, as, l.wq, dst, l.f, f)
		} else {
			for oy := 0; oy < l.ho; oy++ {
				base := oy * l.stride * l.wp * l.px
				qgemm.GemmTaps(l.wo, l.img[base:], l.stride*l.px, l.offs, as, l.wq, dst[oy*l.wo*l.f:], l.f, f)
			}
		}
		if direct {
			continue
		}
		if l.act != actReLU && l.act != actLinear {
			applyAct(l.act, dst[:rows*l.f], l.f)
		}
		if p := l.pool; p != nil {
			qgemm.MaxPoolHWC(yi, dst, ldt*l.f, l.f, p.pool, p.stride, p.ho, p.wo)
			continue
		}
		for oy := 0; oy < l.ho; oy++ {
			copy(yi[oy*l.wo*l.f:(oy+1)*l.wo*l.f], dst[oy*ldt*l.f:])
		}
	}
	if direct && l.act != actReLU && l.act != actLinear {
		applyAct(l.act, l.y, l.f)
	}
	return l.y
}

// fillImage writes the codes of one sample into the padded image.
func (l *qconv) fillImage(xi []float32, inv float32) {
	if l.gray || (l.inHWC && l.cp == l.c) {
		// Rows of the image are contiguous codes (one channel, or HWC
		// with channels a multiple of 4).
		rl := l.w * l.c
		for y := 0; y < l.h; y++ {
			dst := l.img[((y+l.pad)*l.wp+l.pad)*l.px:]
			qgemm.QuantizeTo(dst[:rl], xi[y*rl:(y+1)*rl], inv)
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
	for i := 0; i < c.n; i++ {
		qgemm.MaxPoolHWC(l.y[i*out:(i+1)*out], x[i*in:(i+1)*in], l.w*l.c, l.c, l.pool, l.stride, l.ho, l.wo)
	}
	return l.y
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
