package nn

import (
	"bytes"
	"unsafe"

	"github.com/shoalmesh/shoal/engine/par"
	"github.com/shoalmesh/shoal/engine/qgemm"
)

// directConv is a conv2d's inference path: a direct convolution with no
// column matrix, no saved activations and no argmax, in the layout ONNX
// Runtime's MLAS uses (NCHW16c). Each sample is copied once into a
// zero-padded image, channels in blocks of 16 per pixel (or one float a
// pixel for a one-channel input), and the AVX-512 tiles of convk_amd64.s
// read it in place: a tile is a row of up to 28 (or 14) output pixels ×
// 16 (or 32) filters, bias in the accumulators' start, one broadcast FMA
// per pixel, tap and channel, ReLU on the way out. A max pool right after
// the conv is done on the tile output while it is still in cache (for the
// cnn's first layer in the tile's registers). When the next layer is a
// direct conv too, both run sample by sample in one pass: the first
// writes its pooled NCHW16c output into the second's padded image, which
// stays in the L1/L2 cache, so the cnn's pixels are rearranged only at
// its first and last layer and its first feature map never reaches
// memory.
//
// Against im2col + GEMM (the training path, whose columns backward needs)
// this saves the column matrix, written and read once per layer (9 taps
// × the input), the [F, pixels] → CHW pass with bias and ReLU, and the
// pool's argmax. The sums run in another order, so results match the
// training forward pass within float rounding, not bit for bit
// (TestDirectConvMatchesTraining).
type directConv struct {
	gray       bool // one input channel, one float a pixel
	px         int  // floats per image pixel: 1 (gray) or 16
	cb         int  // channel blocks (gray: 1)
	hp, wp     int  // padded height and width
	plane      int  // floats per padded channel block
	imgLen     int  // floats of one padded image, with slack for edge tiles
	fp         int  // filters rounded up to 16
	wt         int  // pixels per row of the tile output: max(wo, widest tile)
	taps       []int
	blocks     []directBlock
	srcW, srcB []float32 // the weights and biases the blocks were packed from

	pool     *pool2d // fused max pool, or nil
	poolTile bool    // the pool runs in the tile (convKPool14x16g)
	// next is the direct conv that reads this one's output: in the same
	// pass, sample by sample, written straight into its padded image.
	next *conv2d
}

// directBlock is 16 or 32 of the filters, with their weights packed for
// one tile kernel: for each tap, px rows (one per channel) of 16·vecs.
type directBlock struct {
	f0, vecs, rows int
	w, bias        []float32
	kern           func(img *float32, taps *int, ntaps int, w, out *float32, ldb int, bias *float32, relu int)
}

// directTileMax is the widest tile (pixels in a row) of any kernel.
const directTileMax = 28

// directOK says whether l can run the direct path: stride 1, an
// activation the tiles fuse (or none), one channel or a multiple of 16.
func (l *conv2d) directOK() bool {
	return haveConvK && l.stride == 1 && (l.act == actReLU || l.act == actLinear) &&
		(l.c == 1 || l.c%16 == 0) && l.ho > 0 && l.wo > 0 && l.f > 0
}

func newDirectConv(l *conv2d) *directConv {
	d := &directConv{gray: l.c == 1, px: 16, cb: l.c / 16}
	if d.gray {
		d.px, d.cb = 1, 1
	}
	d.hp, d.wp = l.h+2*l.pad, l.w+2*l.pad
	d.plane = d.hp * d.wp * d.px
	// An edge tile may read up to a tile's width and a kernel's width of
	// pixels past the last plane (for outputs it then drops).
	d.imgLen = d.cb*d.plane + (directTileMax+l.k)*d.px
	d.fp = (l.f + 15) &^ 15
	d.wt = max(l.wo, directTileMax)
	for cb := 0; cb < d.cb; cb++ {
		for ky := 0; ky < l.k; ky++ {
			for kx := 0; kx < l.k; kx++ {
				d.taps = append(d.taps, 4*(cb*d.plane+(ky*d.wp+kx)*d.px))
			}
		}
	}
	for f0 := 0; f0 < d.fp; {
		b := directBlock{f0: f0, vecs: 2, rows: 14}
		if d.fp-f0 < 32 {
			b.vecs, b.rows = 1, 28
		}
		switch {
		case d.gray && b.vecs == 2:
			b.kern = convK14x32g
		case d.gray:
			b.kern = convK28x16g
		case b.vecs == 2:
			b.kern = convK14x32b
		default:
			b.kern = convK28x16b
		}
		b.w = make([]float32, len(d.taps)*d.px*16*b.vecs)
		b.bias = make([]float32, 16*b.vecs)
		d.blocks = append(d.blocks, b)
		f0 += 16 * b.vecs
	}
	return d
}

// linkDirect prepares the inference path of a model's layers: a direct
// path for each conv2d that can take one, the max pool right after it
// fused into it, and a conv (with its pool) that feeds another direct conv
// chained to it. Build calls it once.
func linkDirect(layers []layer) {
	for i, ly := range layers {
		l, ok := ly.(*conv2d)
		if !ok || !l.directOK() {
			continue
		}
		d := newDirectConv(l)
		l.direct = d
		next := i + 1
		if next < len(layers) {
			if p, ok := layers[next].(*maxpool); ok && p.c == l.f && p.h == l.ho && p.w == l.wo {
				d.pool = &pool2d{pool: p.pool, stride: p.stride, ho: p.ho, wo: p.wo}
				d.poolTile = d.gray && d.fp == 16 && p.pool == 2 && p.stride == 2 && p.wo >= 7
				p.fusedInto = l
				next++
			}
		}
		if next < len(layers) && l.f%16 == 0 {
			if nx, ok := layers[next].(*conv2d); ok && nx.directOK() && nx.c == l.f {
				d.next = nx
				nx.directSrc = l
			}
		}
	}
}

// wroteDirect says whether x is the output of l's last direct pass.
func (l *conv2d) wroteDirect(x []float32) bool {
	return l.direct != nil && len(x) > 0 && len(l.py) > 0 && &x[0] == &l.py[0]
}

// outDirect is the floats of one sample's (CHW) output on the direct path.
func (l *conv2d) outDirect() int {
	if p := l.direct.pool; p != nil {
		return l.f * p.ho * p.wo
	}
	return l.f * l.ho * l.wo
}

// pack repacks the weights for the tiles when they changed since the last
// pass: comparing 18 KiB costs far less than repacking them (the model's
// parameters are written in place by optimizers and SetParams, so there
// is no moment at which they are known to change).
func (d *directConv) pack(l *conv2d) {
	if equalBits(d.srcW, l.wt) && equalBits(d.srcB, l.b) {
		return
	}
	kk := l.k * l.k
	for bi := range d.blocks {
		b := &d.blocks[bi]
		nf := 16 * b.vecs
		for t := range d.taps {
			cb, tap := t/kk, t%kk
			for c := 0; c < d.px; c++ {
				row := b.w[(t*d.px+c)*nf : (t*d.px+c+1)*nf]
				ch := cb*16 + c
				for j := range row {
					row[j] = 0
					if f := b.f0 + j; f < l.f {
						row[j] = l.wt[(f*l.c+ch)*kk+tap]
					}
				}
			}
		}
		for j := range b.bias {
			b.bias[j] = 0
			if f := b.f0 + j; f < l.f {
				b.bias[j] = l.b[f]
			}
		}
	}
	d.srcW = append(d.srcW[:0], l.wt...)
	d.srcB = append(d.srcB[:0], l.b...)
}

// equalBits says whether a and b hold the same bits (a NaN equals itself).
func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	return bytes.Equal(unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 4*len(a)),
		unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 4*len(b)))
}

// forwardDirect is the inference pass on the direct path, split by
// samples under --threads like the im2col path. A conv chained to the one
// before it was computed in that one's pass: its output is ready.
func (l *conv2d) forwardDirect(c *batchCtx, x []float32) []float32 {
	if l.directSrc != nil && l.directSrc.wroteDirect(x) {
		return l.py
	}
	n := c.n
	parts := partsOf16(n)
	for cur := l; cur != nil; cur = cur.direct.next {
		cur.direct.pack(cur)
		cur.parts = growConvBufs(cur.parts, parts)
		for p := range cur.parts[:parts] {
			cur.parts[p].ensureDirect(cur)
		}
		size := 1 // a chained conv's output goes to the next one's image: py only marks the pass
		if cur.direct.next == nil {
			size = n * cur.outDirect()
		}
		cur.py = grow(cur.py, size)
	}
	if parts > 1 {
		l.split = convSplit{l: l, x: x, n: n, direct: true}
		par.Do(parts, &l.split)
		l.split = convSplit{}
	} else {
		l.directSamples(x, 0, n, 0)
	}
	return l.py
}

// ensureDirect makes room for l's direct path in b.
func (b *convBufs) ensureDirect(l *conv2d) {
	d := l.direct
	if len(b.img) != d.imgLen {
		b.img = make([]float32, d.imgLen) // the border stays 0
	}
	b.tmp = grow(b.tmp, d.fp/16*l.ho*d.wt*16)
}

// directOut is where a direct pass writes one sample: CHW planes (chw),
// or NCHW16c with filter vector v's pixel (y, x) at
// buf[v·plane + (y·row + x)·16] (the next conv's padded image).
type directOut struct {
	buf        []float32
	chw        bool
	plane, row int
}

// directSamples runs samples [lo, hi) with the buffers of part, through
// l and every conv chained after it.
func (l *conv2d) directSamples(x []float32, lo, hi, part int) {
	in := l.c * l.h * l.w
	for i := lo; i < hi; i++ {
		b := &l.parts[part]
		l.direct.fill(l, b.img, x[i*in:(i+1)*in])
		for cur := l; ; {
			nx := cur.direct.next
			if nx == nil {
				out := cur.outDirect()
				cur.directSample(b, directOut{buf: cur.py[i*out : (i+1)*out], chw: true})
				break
			}
			nb := &nx.parts[part]
			nd := nx.direct
			o := directOut{buf: nb.img[(nx.pad*nd.wp+nx.pad)*16:], plane: nd.plane, row: nd.wp}
			cur.directSample(b, o)
			cur, b = nx, nb
		}
	}
}

// directSample convolves the sample in b.img into o.
func (l *conv2d) directSample(b *convBufs, o directOut) {
	d := l.direct
	relu := 0
	if l.act == actReLU {
		relu = 1
	}
	if d.poolTile {
		d.poolTiles(l, b, o, relu)
		return
	}
	planeOut := l.ho * d.wt * 16 // one filter vector's tile output
	for bi := range d.blocks {
		blk := &d.blocks[bi]
		tmp := b.tmp[blk.f0/16*planeOut:]
		for oy := 0; oy < l.ho; oy++ {
			for ox := 0; ; ox += blk.rows {
				// The last tile of a row ends at the row's end, over
				// pixels the one before computed already (same values).
				last := ox+blk.rows >= l.wo
				if last {
					ox = max(0, l.wo-blk.rows)
				}
				src := b.img[(oy*d.wp+ox)*d.px:]
				dst := tmp[(oy*d.wt+ox)*16:]
				_ = dst[(blk.vecs-1)*planeOut+blk.rows*16-1]
				blk.kern(&src[0], &d.taps[0], len(d.taps), &blk.w[0], &dst[0], 4*planeOut, &blk.bias[0], relu)
				if last {
					break
				}
			}
		}
	}
	d.finish(l, o, b)
}

// poolTiles is directSample for a one-channel, 16-filter conv with a 2×2
// pool: each tile is 7 pooled pixels of two output rows.
func (d *directConv) poolTiles(l *conv2d, b *convBufs, o directOut, relu int) {
	const wide = 7
	p := d.pool
	blk := &d.blocks[0]
	out, row := o.buf, o.row
	if o.chw {
		out, row = b.tmp, p.wo // pooled NCHW16c first, then to planes
	}
	for oy := 0; oy < p.ho; oy++ {
		for ox := 0; ; ox += wide {
			last := ox+wide >= p.wo
			if last {
				ox = p.wo - wide
			}
			src := b.img[2*(oy*d.wp+ox):]
			dst := out[(oy*row+ox)*16:]
			_ = dst[wide*16-1]
			convKPool14x16g(&src[0], &d.taps[0], len(d.taps), &blk.w[0], &dst[0], 4*d.wp, &blk.bias[0], relu)
			if last {
				break
			}
		}
	}
	if o.chw {
		hw := p.ho * p.wo
		for c := 0; c < l.f; c++ {
			dst := o.buf[c*hw : (c+1)*hw]
			for q := range dst {
				dst[q] = b.tmp[q*16+c]
			}
		}
	}
}

// fill copies one CHW sample into the padded image: its rows, for one
// channel, or each channel spread to its lane of NCHW16c.
func (d *directConv) fill(l *conv2d, img, xi []float32) {
	if d.gray {
		for y := 0; y < l.h; y++ {
			copy(img[(y+l.pad)*d.wp+l.pad:][:l.w], xi[y*l.w:])
		}
		return
	}
	hw := l.h * l.w
	for ch := 0; ch < l.c; ch++ {
		cb, c := ch/16, ch%16
		for y := 0; y < l.h; y++ {
			dst := img[cb*d.plane+((y+l.pad)*d.wp+l.pad)*16+c:]
			src := xi[ch*hw+y*l.w : ch*hw+(y+1)*l.w]
			dst = dst[:16*(len(src)-1)+1]
			for x, v := range src {
				dst[16*x] = v
			}
		}
	}
}

// finish turns one sample's tile output (b.tmp: per filter vector, ho
// rows of wt pixels × 16) into o, pooled or not.
func (d *directConv) finish(l *conv2d, o directOut, b *convBufs) {
	planeOut := l.ho * d.wt * 16
	ld := d.wt * 16
	ho, wo := l.ho, l.wo
	if p := d.pool; p != nil {
		ho, wo = p.ho, p.wo
	}
	hw := ho * wo
	for v := 0; v < d.fp/16; v++ {
		src := b.tmp[v*planeOut : (v+1)*planeOut]
		if !o.chw {
			for oy := 0; oy < ho; oy++ {
				dst := o.buf[v*o.plane+oy*o.row*16:][:wo*16]
				if p := d.pool; p != nil {
					qgemm.MaxPoolHWC(dst, src[oy*p.stride*ld:], ld, 16, p.pool, p.stride, 1, wo)
				} else {
					copy(dst, src[oy*ld:])
				}
			}
			continue
		}
		var blk []float32 // this vector's pooled output, [ho][wo][16]
		switch {
		case d.pool != nil && d.pool.pool == 2 && d.pool.stride == 2 && (v+1)*16 <= l.f:
			// Straight into the 16 planes (a scatter a pixel).
			_ = src[(2*ho-1)*ld+2*wo*16-1]
			dst := o.buf[v*16*hw : (v+1)*16*hw]
			pool2CHW16(&dst[0], hw, &src[0], ld, ho, wo)
			continue
		case d.pool != nil:
			b.pooled = grow(b.pooled, hw*16)
			blk = b.pooled
			qgemm.MaxPoolHWC(blk, src, ld, 16, d.pool.pool, d.pool.stride, ho, wo)
		}
		// CHW: filter f's plane from lane f%16 of each pixel.
		for c := 0; c < 16 && v*16+c < l.f; c++ {
			dst := o.buf[(v*16+c)*hw : (v*16+c+1)*hw]
			if blk != nil {
				for q := range dst {
					dst[q] = blk[q*16+c]
				}
				continue
			}
			for oy := 0; oy < ho; oy++ {
				row := dst[oy*wo : (oy+1)*wo]
				s := src[oy*ld+c:]
				for ox := range row {
					row[ox] = s[ox*16]
				}
			}
		}
	}
}
