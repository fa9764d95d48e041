package nn

import (
	"math"

	"github.com/shoalmesh/shoal/engine/par"
)

// conv2d is a 2-D convolution on CHW samples through im2col and GEMM.
// The column matrix is "Caffe-style", a row per (channel, ky, kx) and a
// column per output pixel, so building it is mostly long contiguous copies
// (see shiftRow). Weights are [F, C, K, K] (PyTorch OIHW).
//
// The batch is cut into chunks of a few samples whose column matrix
// ([C·K·K, s·Ho·Wo], at most 512 KiB) stays in the L2 cache between
// im2col and the GEMMs, which see the chunk's pixels as one long side:
//
//	forward   Y [F, s·Ho·Wo] = W · col        then bias+ReLU into CHW order
//	weights   dWᵀ [C·K·K, F] += col · dZᵀ      (k = pixels; dotsABt if C·K·K < 24)
//	input     dcol [C·K·K, s·Ho·Wo] = Wᵀ · dZ  then col2im
//
// dZ is kept as [F, s·Ho·Wo] too; the pass that applies the ReLU mask also
// reorders it and sums the bias gradient. Per-sample products (196 columns
// for the cnn's second layer: a narrow edge tile each time, and 64 calls)
// and the scalar element-wise passes that went with them made a cnn
// training step twice as slow (19.0 -> 9.6 ms at batch 64, measured back to
// back). The forward pass keeps every chunk's columns (9 MiB for the cnn at
// batch 64) so that backward need not rebuild them.
type conv2d struct {
	c, h, w, f, k, stride, pad, ho, wo int
	act                                actKind

	wt, b, dw, db []float32
	col           []float32 // [C·K·K, s·Ho·Wo] per chunk, chunks one after another
	y             []float32 // [n, F, Ho, Wo]
	dwt           []float32 // dWᵀ [C·K·K, F]
	dx            []float32
	masks         []float32 // per kernel column, see edgeMask
	parts         []convBufs
	split         convSplit
}

// convBufs are the per-chunk buffers of one part of a pass (one part when
// the pass is not split): yc and dz are one chunk's [F, s·Ho·Wo], dcol is
// like one chunk of col; dwt and db hold the weight and bias gradients of
// parts other than the first.
type convBufs struct {
	yc, dz, dcol, dwt, db []float32
}

// dotsMaxRows: weight gradients with fewer column-matrix rows than this
// (C·K·K, 9 for the cnn's first layer) use dotsABt instead of a GEMM,
// whose 6- and 12-row tiles would be half empty (0.7 -> 0.2 ms per batch
// of 64 for conv1, measured). Only with AVX2; pure-Go builds keep the GEMM.
const dotsMaxRows = 24

// convChunkFloats is the size of one chunk's column matrix: 128 Ki floats
// (512 KiB, a quarter of the L2). Tests lower it to force many chunks.
var convChunkFloats = 1 << 17

// chunk is how many samples go into one column matrix: as many as fit in
// convChunkFloats, at least one.
func (l *conv2d) chunk(n int) int {
	per := l.c * l.k * l.k * l.ho * l.wo
	return min(max(1, convChunkFloats/per), max(n, 1))
}

func (l *conv2d) kind() string { return "conv2d" }

func (l *conv2d) params() []paramDef {
	init := initGlorot
	if l.act == actReLU {
		init = initHe
	}
	kk := l.k * l.k
	return []paramDef{
		{name: "kernel", shape: []int{l.f, l.c, l.k, l.k}, init: init, fanIn: l.c * kk, fanOut: l.f * kk},
		{name: "bias", shape: []int{l.f}, init: initZero},
	}
}

func (l *conv2d) bind(p, g [][]float32) {
	l.wt, l.b, l.dw, l.db = p[0], p[1], g[0], g[1]
}

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

func (l *conv2d) forward(c *batchCtx, x []float32) []float32 {
	n := c.n
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	l.col = grow(l.col, n*ckk*hw)
	l.y = grow(l.y, n*l.f*hw)
	if parts := partsOf16(n); parts > 1 {
		l.ensureMasks()
		l.growParts(parts, false)
		l.split = convSplit{l: l, x: x, n: n}
		par.Do(parts, &l.split)
		l.split = convSplit{}
	} else {
		l.parts = growConvBufs(l.parts, 1)
		l.forwardSamples(x, 0, n, &l.parts[0], sgemm)
	}
	if l.act != actReLU && l.act != actLinear {
		applyAct(l.act, l.y, l.wo)
	}
	return l.y
}

// forwardSamples runs the forward pass of samples [lo, hi) chunk by chunk,
// with b's buffers and the product gemm.
func (l *conv2d) forwardSamples(x []float32, lo, hi int, b *convBufs, gemm sgemmFunc) {
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	chw := l.c * l.h * l.w
	s := l.chunk(hi - lo)
	b.yc = grow(b.yc, l.f*s*hw)
	relu := l.act == actReLU
	for s0 := lo; s0 < hi; s0 += s {
		cnt := min(s, hi-s0)
		pc := cnt * hw
		col := l.col[s0*ckk*hw : (s0+cnt)*ckk*hw]
		l.im2col(x[s0*chw:(s0+cnt)*chw], col, cnt, false)
		yc := b.yc[:l.f*pc]
		gemm(false, false, l.f, pc, ckk, 1, l.wt, ckk, col, pc, 0, yc, pc)
		// Bias and ReLU while moving each sample's rows to CHW order.
		for i := 0; i < cnt; i++ {
			yi := l.y[(s0+i)*l.f*hw : (s0+i+1)*l.f*hw]
			for f := 0; f < l.f; f++ {
				src := yc[f*pc+i*hw : f*pc+(i+1)*hw]
				if relu {
					biasReLU(yi[f*hw:(f+1)*hw], src, l.b[f])
				} else {
					biasAdd(yi[f*hw:(f+1)*hw], src, l.b[f])
				}
			}
		}
	}
}

func (l *conv2d) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	n := c.n
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	chw := l.c * l.h * l.w
	dy = dy[:n*l.f*hw]
	if l.act != actReLU {
		actBackward(l.act, l.y[:len(dy)], dy, l.wo)
	}
	l.dwt = grow(l.dwt, ckk*l.f)
	if needDx {
		l.dx = grow(l.dx, n*chw)
		clear(l.dx)
	}
	if parts := partsOf16(n); parts > 1 {
		l.ensureMasks()
		l.growParts(parts, true)
		l.split = convSplit{l: l, backward: true, dy: dy, n: n, needDx: needDx}
		par.Do(parts, &l.split)
		l.split = convSplit{}
		// Sum the parts' weight and bias gradients in part order.
		for i := 1; i < parts; i++ {
			addTo(l.dwt, l.parts[i].dwt)
			addTo(l.db, l.parts[i].db)
		}
	} else {
		l.parts = growConvBufs(l.parts, 1)
		l.backwardSamples(dy, 0, n, needDx, &l.parts[0], l.dwt, l.db, sgemm)
	}
	for ch := 0; ch < l.f; ch++ {
		row := l.dw[ch*ckk : (ch+1)*ckk]
		for r := range row {
			row[r] = l.dwt[r*l.f+ch]
		}
	}
	if !needDx {
		return nil
	}
	return l.dx
}

// backwardSamples runs the backward pass of samples [lo, hi) chunk by
// chunk, with b's buffers and the product gemm, into the weight gradient
// dWᵀ dwt and the bias gradient db (both overwritten) and, if needDx, dx.
func (l *conv2d) backwardSamples(dy []float32, lo, hi int, needDx bool, b *convBufs, dwt, db []float32, gemm sgemmFunc) {
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	chw := l.c * l.h * l.w
	s := l.chunk(hi - lo)
	relu := l.act == actReLU
	clear(db)
	b.dz = grow(b.dz, s*l.f*hw)
	if needDx {
		b.dcol = grow(b.dcol, s*ckk*hw)
	}
	for s0 := lo; s0 < hi; s0 += s {
		cnt := min(s, hi-s0)
		pc := cnt * hw
		col := l.col[s0*ckk*hw : (s0+cnt)*ckk*hw]
		dz := b.dz[:l.f*pc]
		// dZ [F, pc] from dy [cnt, F, Ho·Wo]: the ReLU mask and the bias
		// gradient in the same pass. Per-sample sums keep db's rounding
		// independent of the chunk size.
		for i := 0; i < cnt; i++ {
			base := (s0 + i) * l.f * hw
			for ch := 0; ch < l.f; ch++ {
				src := dy[base+ch*hw : base+(ch+1)*hw]
				dst := dz[ch*pc+i*hw : ch*pc+(i+1)*hw]
				dst = dst[:len(src)]
				var sum float32
				if relu {
					sum = reluMaskSum(dst, src, l.y[base+ch*hw:base+(ch+1)*hw])
				} else {
					copy(dst, src)
					for _, v := range dst {
						sum += v
					}
				}
				db[ch] += sum
			}
		}
		beta := float32(1)
		if s0 == lo {
			beta = 0
		}
		if ckk < dotsMaxRows && haveAVX2 {
			dotsABt(ckk, l.f, pc, col, pc, dz, pc, beta, dwt, l.f)
		} else {
			gemm(false, true, ckk, l.f, pc, 1, col, pc, dz, pc, beta, dwt, l.f)
		}
		if needDx {
			dcol := b.dcol[:ckk*pc]
			gemm(true, false, ckk, pc, l.f, 1, l.wt, ckk, dz, pc, 0, dcol, pc)
			l.im2col(l.dx[s0*chw:(s0+cnt)*chw], dcol, cnt, true)
		}
	}
}

// maxpool keeps the largest value of each pool×pool window (stride
// defaults to pool) and remembers where it was for the backward pass.
type maxpool struct {
	c, h, w, pool, stride, ho, wo int
	y, dx                         []float32
	arg                           []int32 // index into the sample's input of each output
}

func (l *maxpool) kind() string          { return "maxpool2d" }
func (l *maxpool) params() []paramDef    { return nil }
func (l *maxpool) bind(_, _ [][]float32) {}

func (l *maxpool) forward(c *batchCtx, x []float32) []float32 {
	n := c.n
	in := l.c * l.h * l.w
	out := l.c * l.ho * l.wo
	l.y = grow(l.y, n*out)
	l.arg = growInt32(l.arg, n*out)
	if l.pool == 2 && l.stride == 2 {
		l.forward2(x, n)
		return l.y
	}
	for i := 0; i < n; i++ {
		xi := x[i*in : (i+1)*in]
		o := i * out
		for ch := 0; ch < l.c; ch++ {
			base := ch * l.h * l.w
			for oy := 0; oy < l.ho; oy++ {
				for ox := 0; ox < l.wo; ox++ {
					iy0, ix0 := oy*l.stride, ox*l.stride
					best := base + iy0*l.w + ix0
					bv := xi[best]
					for ky := 0; ky < l.pool; ky++ {
						rowStart := base + (iy0+ky)*l.w + ix0
						for kx := 0; kx < l.pool; kx++ {
							if v := xi[rowStart+kx]; v > bv {
								bv, best = v, rowStart+kx
							}
						}
					}
					l.y[o] = bv
					l.arg[o] = int32(best)
					o++
				}
			}
		}
	}
	return l.y
}

// forward2 is the common 2×2, stride 2 case: the AVX2 kernel one plane at
// a time, or a Go loop written for few bounds checks.
func (l *maxpool) forward2(x []float32, n int) {
	in := l.c * l.h * l.w
	if haveAVX2 && l.ho > 0 && l.wo > 0 {
		hwo := l.ho * l.wo
		// The kernel reads rows 0..2·ho-1 of each plane, 2·wo ≤ w floats each.
		last := (2*l.ho-1)*l.w + 2*l.wo
		planes := n * l.c
		for pl := range planes {
			base := pl % l.c * l.h * l.w
			plane := x[pl/l.c*in+base:][:last]
			y := l.y[pl*hwo:][:hwo]
			arg := l.arg[pl*hwo:][:hwo]
			maxpool2AVX2(&plane[0], &y[0], &arg[0], base, l.w, l.ho, l.wo)
		}
		return
	}
	planes := n * l.c
	for pl := 0; pl < planes; pl++ {
		i, ch := pl/l.c, pl%l.c
		base := ch * l.h * l.w
		xi := x[i*in : (i+1)*in]
		for oy := 0; oy < l.ho; oy++ {
			o := (pl*l.ho + oy) * l.wo
			y := l.y[o : o+l.wo]
			arg := l.arg[o : o+l.wo]
			r0 := base + 2*oy*l.w
			row0 := xi[r0 : r0+2*l.wo]
			row1 := xi[r0+l.w : r0+l.w+2*l.wo]
			for ox := range y {
				a, b, cc, d := row0[2*ox], row0[2*ox+1], row1[2*ox], row1[2*ox+1]
				// Values through MAXSS and the argmax through integer
				// selects (CMOV): no branch to mispredict on random data.
				// Ties keep the first element in reading order.
				m1, m2 := max(a, b), max(cc, d)
				i1, i2 := 0, l.w
				if b > a {
					i1 = 1
				}
				if d > cc {
					i2 = l.w + 1
				}
				k := i1
				if m2 > m1 {
					k = i2
				}
				y[ox] = max(m1, m2)
				arg[ox] = int32(r0 + 2*ox + k)
			}
		}
	}
}

func (l *maxpool) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	if !needDx {
		return nil
	}
	n := c.n
	in := l.c * l.h * l.w
	out := l.c * l.ho * l.wo
	l.dx = grow(l.dx, n*in)
	if haveAVX2 && l.pool == 2 && l.stride == 2 && l.ho > 0 && l.wo > 0 {
		// Windows tile the plane: the kernel writes each input once, so
		// nothing needs clearing first, unless an odd row or column is
		// left out.
		if l.h != 2*l.ho || l.w != 2*l.wo {
			clear(l.dx)
		}
		hwo := l.ho * l.wo
		last := (2*l.ho-1)*l.w + 2*l.wo
		planes := n * l.c
		for pl := range planes {
			base := pl % l.c * l.h * l.w
			plane := l.dx[pl/l.c*in+base:][:last]
			d := dy[pl*hwo:][:hwo]
			arg := l.arg[pl*hwo:][:hwo]
			maxpool2BackAVX2(&plane[0], &d[0], &arg[0], base, l.w, l.ho, l.wo)
		}
		return l.dx
	}
	clear(l.dx)
	for i := 0; i < n; i++ {
		dxi := l.dx[i*in : (i+1)*in]
		for o, a := range l.arg[i*out : (i+1)*out] {
			dxi[a] += dy[i*out+o]
		}
	}
	return l.dx
}

// Under --threads a convolution splits the batch by samples (par.Range), each
// part running its samples' chunks — im2col, the products, bias and ReLU,
// the ReLU mask and col2im — on its own buffers, so that all of it runs on
// every core and not only the products. The weight and bias gradients are
// summed from one partial per part, in part order.

// growParts makes room for the buffers of parts parts; backward passes also
// need the parts' gradient partials.
func (l *conv2d) growParts(parts int, backward bool) {
	l.parts = growConvBufs(l.parts, parts)
	if backward {
		ckk := l.c * l.k * l.k
		for i := 1; i < parts; i++ {
			l.parts[i].dwt = grow(l.parts[i].dwt, ckk*l.f)
			l.parts[i].db = grow(l.parts[i].db, l.f)
		}
	}
}

func growConvBufs(p []convBufs, n int) []convBufs {
	for len(p) < n {
		p = append(p, convBufs{})
	}
	return p
}

// convSplit is one forward or backward pass of a convolution cut by samples.
type convSplit struct {
	l        *conv2d
	backward bool
	x, dy    []float32
	n        int
	needDx   bool
}

func (s *convSplit) RunPart(i, n int) {
	l := s.l
	lo, hi := par.Range(i, n, s.n)
	b := &l.parts[i]
	if !s.backward {
		if lo < hi {
			l.forwardSamples(s.x, lo, hi, b, sgemmSerial)
		}
		return
	}
	dwt, db := l.dwt, l.db
	if i > 0 {
		dwt, db = b.dwt, b.db
	}
	if lo == hi { // no samples for this part: it adds nothing
		clear(dwt)
		clear(db)
		return
	}
	l.backwardSamples(s.dy, lo, hi, s.needDx, b, dwt, db, sgemmSerial)
}
