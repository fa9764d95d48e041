package nn

// maxpool keeps the largest value of each pool×pool window (stride
// defaults to pool) and remembers where it was for the backward pass.
type maxpool struct {
	c, h, w, pool, stride, ho, wo int
	y, dx                         []float32
	arg                           []int32 // index into the sample's input of each output
	fusedInto                     *conv2d // the conv whose direct inference pass pools for this layer
	// backInto is the ReLU conv before this layer whose training passes
	// pool for this layer and route its gradient (see linkPoolBack); then
	// this layer's forward returns what the conv wrote, and its backward
	// passes its gradient through untouched.
	backInto *conv2d
}

// linkPoolBack pairs each 2×2, stride-2 max pool that tiles its input
// with the ReLU convolution before it, for the backward pass (with AVX2):
// the pool's gradient would be written whole (each window's gradient at
// its maximum, zeros around it), then read whole again by the conv, which
// masks it by the ReLU and sums it for the bias gradient; at batch 64 the
// cnn's first such plane set is 3.2 MB, past the L2, so both passes went
// to the L3. Paired, the conv writes each chunk's pool gradient straight
// into its own chunk buffer and masks it there, in the L2. The values and
// their order are those of the two passes, so the bits are too. Build
// calls it once.
func linkPoolBack(layers []layer) {
	for i := 0; i+1 < len(layers); i++ {
		l, ok := layers[i].(*conv2d)
		if !ok || l.act != actReLU {
			continue
		}
		p, ok := layers[i+1].(*maxpool)
		if !ok || p.pool != 2 || p.stride != 2 || p.c != l.f || p.h != l.ho || p.w != l.wo ||
			p.ho == 0 || p.wo == 0 || p.h != 2*p.ho || p.w != 2*p.wo {
			continue
		}
		l.poolBack, p.backInto = p, l
	}
}

func (l *maxpool) kind() string          { return "maxpool2d" }
func (l *maxpool) params() []paramDef    { return nil }
func (l *maxpool) bind(_, _ [][]float32) {}

func (l *maxpool) forward(c *batchCtx, x []float32) []float32 {
	if !c.train && l.fusedInto != nil && l.fusedInto.wroteDirect(x) {
		return x // pooled already (see linkDirect)
	}
	if c.train && l.backInto != nil && l.backInto.poolNow {
		return l.y // pooled by the conv before, with the arguments (linkPoolBack)
	}
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
	if l.backInto != nil && l.backInto.routesPool() {
		return dy // the conv before routes it (linkPoolBack)
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
