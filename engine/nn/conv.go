package nn

import "github.com/shoalmesh/shoal/engine/par"

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
// back). Neither pass keeps the columns of the whole batch: the backward
// pass rebuilds each chunk's from the layer's input, as the forward pass
// built them, into the same chunk buffer. Kept, they were 9 MiB for the
// cnn at batch 64, written to memory in the forward pass and read back in
// the backward pass; rebuilt, they stay in the L2 from im2col to the
// product, and the input they come from is 9 (conv2: C·K·K / C) times
// smaller. Same columns, same chunks, so the same bits.
//
// Inference (Model.Forward) on a CPU with AVX-512 takes a direct
// convolution instead where the layer allows it (conv_direct.go); the
// im2col inference pass below is the fallback.
type conv2d struct {
	c, h, w, f, k, stride, pad, ho, wo int
	act                                actKind

	wt, b, dw, db []float32
	y             []float32 // [n, F, Ho, Wo]
	dwt           []float32 // dWᵀ [C·K·K, F]
	dx            []float32
	masks         []float32 // per kernel column, see edgeMask
	parts         []convBufs
	split         convSplit

	// The inference path of conv_direct.go, when the layer has one:
	// directSrc is the conv whose NCHW16c output this one may read, py the
	// output of the last direct pass.
	direct    *directConv
	directSrc *conv2d
	py        []float32
	// poolBack is the max pool after this layer whose gradient this
	// layer's backward pass routes itself, and which its training forward
	// pass computes too (linkPoolBack); poolNow says the pass under way
	// does.
	poolBack *maxpool
	poolNow  bool
}

// convBufs are the per-chunk buffers of one part of a pass (one part when
// the pass is not split): yc and dz are one chunk's [F, s·Ho·Wo], col and
// dcol its columns [C·K·K, s·Ho·Wo] and their gradient; dwt and db hold the
// weight and bias gradients of parts other than the first.
type convBufs struct {
	yc, dz, dcol, dwt, db []float32
	col                   []float32
	img, tmp, pooled      []float32 // the direct path's image, tile output and pooled vector
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

func (l *conv2d) forward(c *batchCtx, x []float32) []float32 {
	if !c.train && l.direct != nil {
		return l.forwardDirect(c, x)
	}
	n := c.n
	hw := l.ho * l.wo
	// Each part reuses one chunk's buffer of columns, which stays in the
	// L2 cache from im2col to the product.
	l.y = grow(l.y, n*l.f*hw)
	l.poolNow = c.train && l.routesPool()
	if l.poolNow {
		p := l.poolBack
		p.y = grow(p.y, n*p.c*p.ho*p.wo)
		p.arg = growInt32(p.arg, n*p.c*p.ho*p.wo)
	}
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

// routesPool says whether this layer's passes do the work of the max pool
// after it (linkPoolBack): with AVX2, whose pool kernels they call.
func (l *conv2d) routesPool() bool { return l.poolBack != nil && haveAVX2 }

// forwardSamples runs the forward pass of samples [lo, hi) chunk by chunk,
// with b's buffers and the product gemm.
func (l *conv2d) forwardSamples(x []float32, lo, hi int, b *convBufs, gemm sgemmFunc) {
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	chw := l.c * l.h * l.w
	s := l.chunk(hi - lo)
	b.yc = grow(b.yc, l.f*s*hw)
	b.col = grow(b.col, s*ckk*hw)
	relu := l.act == actReLU
	for s0 := lo; s0 < hi; s0 += s {
		cnt := min(s, hi-s0)
		pc := cnt * hw
		col := b.col[:cnt*ckk*hw]
		l.im2col(x[s0*chw:(s0+cnt)*chw], col, cnt, false)
		yc := b.yc[:l.f*pc]
		gemm(false, false, l.f, pc, ckk, 1, l.wt, ckk, col, pc, 0, yc, pc)
		// Bias and ReLU while moving each sample's rows to CHW order, and
		// the max pool after this layer (linkPoolBack) while the plane is
		// in the L1: it would read the whole batch's planes back from the
		// L3 (3.2 MB for the cnn's first layer at batch 64).
		for i := 0; i < cnt; i++ {
			yi := l.y[(s0+i)*l.f*hw : (s0+i+1)*l.f*hw]
			for f := 0; f < l.f; f++ {
				src := yc[f*pc+i*hw : f*pc+(i+1)*hw]
				plane := yi[f*hw : (f+1)*hw]
				if relu {
					biasReLU(plane, src, l.b[f])
				} else {
					biasAdd(plane, src, l.b[f])
				}
				if l.poolNow {
					p := l.poolBack
					hwo := p.ho * p.wo
					pl := (s0+i)*l.f + f
					y, arg := p.y[pl*hwo:][:hwo], p.arg[pl*hwo:][:hwo]
					maxpool2AVX2(&plane[0], &y[0], &arg[0], f*hw, l.wo, p.ho, p.wo)
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
	if l.routesPool() {
		// The pool's gradient, not yet routed to the windows' maxima.
		dy = dy[:n*l.f*l.poolBack.ho*l.poolBack.wo]
	} else {
		dy = dy[:n*l.f*hw]
	}
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
		l.split = convSplit{l: l, backward: true, x: x, dy: dy, n: n, needDx: needDx}
		par.Do(parts, &l.split)
		l.split = convSplit{}
		// Sum the parts' weight and bias gradients in part order.
		for i := 1; i < parts; i++ {
			addTo(l.dwt, l.parts[i].dwt)
			addTo(l.db, l.parts[i].db)
		}
	} else {
		l.parts = growConvBufs(l.parts, 1)
		l.backwardSamples(x, dy, 0, n, needDx, &l.parts[0], l.dwt, l.db, sgemm)
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
// x is the layer's input, from which each chunk's columns are rebuilt.
func (l *conv2d) backwardSamples(x, dy []float32, lo, hi int, needDx bool, b *convBufs, dwt, db []float32, gemm sgemmFunc) {
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	chw := l.c * l.h * l.w
	s := l.chunk(hi - lo)
	relu := l.act == actReLU
	var pool *maxpool
	if l.routesPool() {
		pool = l.poolBack
	}
	clear(db)
	b.dz = grow(b.dz, s*l.f*hw)
	b.col = grow(b.col, s*ckk*hw)
	if needDx {
		b.dcol = grow(b.dcol, s*ckk*hw)
	}
	for s0 := lo; s0 < hi; s0 += s {
		cnt := min(s, hi-s0)
		pc := cnt * hw
		col := b.col[:cnt*ckk*hw]
		l.im2col(x[s0*chw:(s0+cnt)*chw], col, cnt, false)
		dz := b.dz[:l.f*pc]
		// dZ [F, pc] from dy [cnt, F, Ho·Wo]: the ReLU mask and the bias
		// gradient in the same pass. Per-sample sums keep db's rounding
		// independent of the chunk size.
		for i := 0; i < cnt; i++ {
			base := (s0 + i) * l.f * hw
			for ch := 0; ch < l.f; ch++ {
				dst := dz[ch*pc+i*hw : ch*pc+(i+1)*hw]
				var sum float32
				if pool != nil {
					// What the pool's backward pass wrote for this
					// plane (every input of its windows: they tile it),
					// then the ReLU mask over it in place.
					hwo := pool.ho * pool.wo
					pl := (s0+i)*l.f + ch
					d := dy[pl*hwo:][:hwo]
					arg := pool.arg[pl*hwo:][:hwo]
					maxpool2BackAVX2(&dst[0], &d[0], &arg[0], ch*hw, l.wo, pool.ho, pool.wo)
					db[ch] += reluMaskSum(dst, dst, l.y[base+ch*hw:base+(ch+1)*hw])
					continue
				}
				src := dy[base+ch*hw : base+(ch+1)*hw]
				dst = dst[:len(src)]
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
