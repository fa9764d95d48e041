package nn

// conv2d is a 2-D convolution on CHW samples through im2col and GEMM,
// one sample at a time. The column matrix is "Caffe-style", a row per
// (channel, ky, kx) and a column per output pixel ([C·K·K, Ho·Wo]), so
// building it is mostly contiguous row copies, it stays in the L2 cache
// between im2col and the GEMM, and W·col is already the CHW output (no
// transpose). Weights are [F, C, K, K] (PyTorch OIHW). Backward rebuilds
// each sample's columns rather than keeping the batch's (megabytes).
// A batch-wide variant (one GEMM over [C·K·K, n·Ho·Wo]) measured 20%
// slower on the cnn preset: its column matrix streams through memory.
type conv2d struct {
	c, h, w, f, k, stride, pad, ho, wo int
	act                                actKind

	wt, b, dw, db []float32
	col           []float32 // [C·K·K, Ho·Wo] of one sample
	y             []float32 // [n, F, Ho, Wo]
	dcol, dx      []float32 // dcol like col
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
	for i := 0; i < n; i++ {
		plane := x[i*chw+ch*hw : i*chw+(ch+1)*hw]
		dst := row[i*hw : (i+1)*hw]
		if add {
			// Gradients of padded positions must not wrap into the plane.
			l.clearEdges(dst, lo, hi)
			if qlo < qhi {
				src := dst[qlo:qhi]
				p := plane[qlo+off : qhi+off]
				p = p[:len(src)]
				for j, v := range src {
					p[j] += v
				}
			}
			continue
		}
		if qlo < qhi {
			copy(dst[qlo:qhi], plane[qlo+off:qhi+off])
		}
		clear(dst[:qlo])
		clear(dst[max(qhi, qlo):])
		l.clearEdges(dst, lo, hi)
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
	chw := l.c * l.h * l.w
	l.col = grow(l.col, ckk*hw)
	l.y = grow(l.y, n*l.f*hw)
	relu := l.act == actReLU
	for i := 0; i < n; i++ {
		l.im2col(x[i*chw:(i+1)*chw], l.col, 1, false)
		yi := l.y[i*l.f*hw : (i+1)*l.f*hw]
		sgemm(false, false, l.f, hw, ckk, 1, l.wt, ckk, l.col, hw, 0, yi, hw)
		for f := 0; f < l.f; f++ {
			bf := l.b[f]
			row := yi[f*hw : (f+1)*hw]
			if relu {
				for p, v := range row {
					row[p] = max(v+bf, 0)
				}
			} else {
				for p := range row {
					row[p] += bf
				}
			}
		}
	}
	if !relu && l.act != actLinear {
		applyAct(l.act, l.y, l.wo)
	}
	return l.y
}

func (l *conv2d) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	n := c.n
	ckk := l.c * l.k * l.k
	hw := l.ho * l.wo
	chw := l.c * l.h * l.w
	dy = dy[:n*l.f*hw]
	actBackward(l.act, l.y[:len(dy)], dy, l.wo)
	clear(l.db)
	for i := 0; i < n; i++ {
		di := dy[i*l.f*hw : (i+1)*l.f*hw]
		for f := 0; f < l.f; f++ {
			var s float32
			for _, v := range di[f*hw : (f+1)*hw] {
				s += v
			}
			l.db[f] += s
		}
	}
	l.col = grow(l.col, ckk*hw)
	if needDx {
		l.dcol = grow(l.dcol, ckk*hw)
		l.dx = grow(l.dx, n*chw)
		clear(l.dx)
	}
	for i := 0; i < n; i++ {
		di := dy[i*l.f*hw : (i+1)*l.f*hw]
		l.im2col(x[i*chw:(i+1)*chw], l.col, 1, false)
		beta := float32(1)
		if i == 0 {
			beta = 0
		}
		sgemm(false, true, l.f, ckk, hw, 1, di, hw, l.col, hw, beta, l.dw, ckk)
		if needDx {
			sgemm(true, false, ckk, hw, l.f, 1, l.wt, ckk, di, hw, 0, l.dcol, hw)
			l.im2col(l.dx[i*chw:(i+1)*chw], l.dcol, 1, true)
		}
	}
	if !needDx {
		return nil
	}
	return l.dx
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

// forward2 is the common 2×2, stride 2 case, written for few bounds checks.
func (l *maxpool) forward2(x []float32, n int) {
	in := l.c * l.h * l.w
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
	clear(l.dx)
	for i := 0; i < n; i++ {
		dxi := l.dx[i*in : (i+1)*in]
		for o, a := range l.arg[i*out : (i+1)*out] {
			dxi[a] += dy[i*out+o]
		}
	}
	return l.dx
}
