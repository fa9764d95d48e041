package nn

import "github.com/shoalmesh/shoal/engine/par"

// The LSTM's samples are independent of each other through the whole
// sequence: row r's state at step t depends only on row r's state at t-1.
// So under --threads the recurrence of each pass runs as a few ranges of
// (sorted) rows, each range through all its steps on its own core, with no
// hand-off per step; only the products over all steps (the input
// projection before, the weight gradients after) are shared, and gemm.Sgemm
// splits those itself. A row's arithmetic is the same whichever range it is
// in, so the results are bit for bit those of one thread.

// lstmRows is one pass's recurrence over a range of rows.
type lstmRows struct {
	l        *lstm
	n        int
	backward bool
	bounds   [par.MaxParts + 1]int // part i runs rows [bounds[i], bounds[i+1])
}

func (s *lstmRows) RunPart(i, _ int) {
	lo, hi := s.bounds[i], s.bounds[i+1]
	if lo == hi {
		return
	}
	if s.backward {
		s.l.backwardRows(s.n, lo, hi, sgemmSerial)
	} else {
		s.l.forwardRows(s.n, lo, hi, sgemmSerial)
	}
}

// maxRowWise: batches of up to this many rows take h·U row by row (see
// forwardRows); below minSplitRows, so such a batch is never split.
const maxRowWise = 4

// minSplitRows: ranges of fewer rows than this leave too little to each
// step's products and element-wise loops to repay splitting.
const minSplitRows = 8

// runRows runs the forward or backward recurrence over all n rows, in
// ranges across par.Threads() when there are enough rows (splitRows).
func (l *lstm) runRows(n int, backward bool) {
	parts := min(par.Threads(), n/minSplitRows)
	if parts < 2 {
		if backward {
			l.backwardRows(n, 0, n, sgemm)
		} else {
			l.forwardRows(n, 0, n, sgemm)
		}
		return
	}
	s := &l.rowSplit
	*s = lstmRows{l: l, n: n, backward: backward}
	l.splitRows(n, parts, s.bounds[:])
	par.Do(parts, s)
	s.l = nil
}

// splitRows cuts the n sorted rows into parts ranges, range i being rows
// [bounds[i], bounds[i+1]). Rows are sorted longest first, so the cuts go
// where the sum of their lengths (the work) is even, not their counts.
func (l *lstm) splitRows(n, parts int, bounds []int) {
	total := 0
	for _, i := range l.perm[:n] {
		total += int(l.lens[i])
	}
	bounds[0] = 0
	part, sum := 1, 0
	for r, i := range l.perm[:n] {
		sum += int(l.lens[i])
		for part < parts && sum*parts >= total*part {
			bounds[part] = r + 1
			part++
		}
	}
	for ; part <= parts; part++ {
		bounds[part] = n
	}
}

// forwardRows runs steps 0..teff-1 of the forward recurrence for rows
// [lo, hi) of the n sorted rows: z's rows get h·U and the gate activations,
// and hs, cs and tc those rows' states.
func (l *lstm) forwardRows(n, lo, hi int, gemm sgemmFunc) {
	H := l.units
	G := 4 * H
	nH := n * H
	b := l.b
	// A batch too small to split (so any choice here is the same under
	// every --threads) takes h·U one row at a time in AVX2 where there are
	// few rows: a GEMM's packing and edge tiles cost more than the product
	// there (85% of a batch-1 forward pass went to them). The int8 model
	// keeps its own product.
	rowWise := haveAVX2 && n <= maxRowWise && G%64 == 0 && !l.int8Rec
	for t := 0; t < l.teff; t++ {
		a := min(int(l.active[t]), hi) // this range's running rows end here
		zt := l.z[t*n*G : (t+1)*n*G]
		if t > 0 && a > lo {
			if rowWise {
				for r := lo; r < a; r++ {
					lstmRecAVX2(&l.hs[t*nH+r*H], &l.u[0], &zt[r*G], H, G)
				}
			} else {
				gemm(false, false, a-lo, G, H, 1, l.hs[t*nH+lo*H:], H, l.u, G, 1, zt[lo*G:], G)
			}
		}
		cPrev := l.cs[t*nH : (t+1)*nH]
		cNext := l.cs[(t+1)*nH : (t+2)*nH]
		hNext := l.hs[(t+1)*nH : (t+2)*nH]
		tc := l.tc[t*nH : (t+1)*nH]
		// Finished rows hold zeros, so that the dU product over all rows
		// in backward never meets a stale value.
		clear(hNext[max(a, lo)*H : hi*H])
		for r := lo; r < a; r++ {
			lstmCell(zt[r*G:(r+1)*G], b, cPrev[r*H:(r+1)*H], cNext[r*H:(r+1)*H], hNext[r*H:(r+1)*H], tc[r*H:(r+1)*H])
		}
	}
}

// lstmCell runs one row's gates: zr holds the row's 4H gate inputs i, f,
// g, o (without the bias b), overwritten by their activations; cp is the
// previous cell state; cn, hn and tr get the new cell state, hidden state
// and tanh of the cell state. Where H is a multiple of 8 the AVX2 kernel
// does it, bit for bit as the Go loop (the element-wise part was 60% of a
// full-length forward pass in scalar Go, most of it exp32).
func lstmCell(zr, b, cp, cn, hn, tr []float32) {
	H := len(cp)
	if haveAVX2 && H%8 == 0 && H > 0 {
		_, _, _, _ = zr[4*H-1], b[4*H-1], cn[H-1], hn[H-1]
		_ = tr[H-1]
		if haveAVX512 && H%16 == 0 {
			lstmCellAVX512(&zr[0], &b[0], &cp[0], &cn[0], &hn[0], &tr[0], H)
		} else {
			lstmCellAVX2(&zr[0], &b[0], &cp[0], &cn[0], &hn[0], &tr[0], H)
		}
		return
	}
	lstmCellGo(zr, b, cp, cn, hn, tr)
}

// lstmCellGo is lstmCell in Go, and the reference of the kernel.
func lstmCellGo(zr, b, cp, cn, hn, tr []float32) {
	H := len(cp)
	G := 4 * H
	bi, bf, bg, bo := b[:H], b[H:2*H], b[2*H:3*H], b[3*H:G]
	zi, zf, zg, zo := zr[:H], zr[H:2*H], zr[2*H:3*H], zr[3*H:G]
	cn, hn, tr = cn[:H], hn[:H], tr[:H]
	for j := 0; j < H; j++ {
		// sigmoid and tanh spelled out so that exp32 inlines here.
		ig := 1 / (1 + exp32(-(zi[j] + bi[j])))
		fg := 1 / (1 + exp32(-(zf[j] + bf[j])))
		gg := 1 - 2/(exp32(2*(zg[j]+bg[j]))+1)
		og := 1 / (1 + exp32(-(zo[j] + bo[j])))
		zi[j], zf[j], zg[j], zo[j] = ig, fg, gg, og
		cv := fg*cp[j] + ig*gg
		cn[j] = cv
		th := 1 - 2/(exp32(2*cv)+1)
		tr[j] = th
		hn[j] = og * th
	}
}

// backwardRows runs steps teff-1..0 of the backward recurrence for rows
// [lo, hi): dz's rows, and dh and dc as it goes, from l.dy.
func (l *lstm) backwardRows(n, lo, hi int, gemm sgemmFunc) {
	H := l.units
	G := 4 * H
	nH := n * H
	dy := l.dy
	for t := l.teff - 1; t >= 0; t-- {
		a, aNext := min(int(l.active[t]), hi), min(int(l.active[t+1]), hi)
		// Rows aNext..a end at this step: their state gradients start here.
		clear(l.dh[max(aNext, lo)*H : max(a, lo)*H])
		clear(l.dc[max(aNext, lo)*H : max(a, lo)*H])
		if l.seq {
			for r := lo; r < a; r++ {
				i := int(l.perm[r])
				src := dy[(i*l.steps+t)*H : (i*l.steps+t+1)*H]
				dst := l.dh[r*H : (r+1)*H]
				for j, v := range src {
					dst[j] += v
				}
			}
		} else {
			l.injectPooled(t, lo, a, aNext)
		}
		zt := l.z[t*n*G : (t+1)*n*G]
		dzt := l.dz[t*n*G : (t+1)*n*G]
		clear(dzt[max(a, lo)*G : hi*G])
		cPrev := l.cs[t*nH : (t+1)*nH]
		tc := l.tc[t*nH : (t+1)*nH]
		for r := lo; r < a; r++ {
			zr := zt[r*G : (r+1)*G]
			dr := dzt[r*G : (r+1)*G]
			zi, zf, zg, zo := zr[:H], zr[H:2*H], zr[2*H:3*H], zr[3*H:G]
			di, df, dg, do := dr[:H], dr[H:2*H], dr[2*H:3*H], dr[3*H:G]
			dh, dc := l.dh[r*H:(r+1)*H], l.dc[r*H:(r+1)*H]
			cp, tr := cPrev[r*H:(r+1)*H], tc[r*H:(r+1)*H]
			for j := 0; j < H; j++ {
				ig, fg, gg, og, th := zi[j], zf[j], zg[j], zo[j], tr[j]
				d := dh[j]
				do[j] = d * th * og * (1 - og)
				dcv := dc[j] + d*og*(1-th*th)
				di[j] = dcv * gg * ig * (1 - ig)
				dg[j] = dcv * ig * (1 - gg*gg)
				df[j] = dcv * cp[j] * fg * (1 - fg)
				dc[j] = dcv * fg
			}
		}
		if t > 0 && a > lo {
			gemm(false, true, a-lo, H, G, 1, dzt[lo*G:], G, l.u, G, 0, l.dh[lo*H:], H)
		}
	}
}

// injectPooled adds to dh, for the running rows [lo, a) of step t, the
// output gradient that reaches their h at t through the pooling: all of it
// at the last real step (rows [aNext, a) end at t, their dh was just
// cleared), 1/L of it at every real step for the mean, and for the
// maximum the units whose maximum was at t.
func (l *lstm) injectPooled(t, lo, a, aNext int) {
	H, dy := l.units, l.dy
	switch l.pool {
	case poolLast:
		for r := max(aNext, lo); r < a; r++ {
			i := int(l.perm[r])
			copy(l.dh[r*H:(r+1)*H], dy[i*H:(i+1)*H])
		}
	case poolMean:
		for r := lo; r < a; r++ {
			i := int(l.perm[r])
			s := 1 / float32(l.lens[i])
			dst := l.dh[r*H : (r+1)*H]
			for j, v := range dy[i*H : (i+1)*H] {
				dst[j] += v * s
			}
		}
	case poolMax:
		for r := lo; r < a; r++ {
			i := int(l.perm[r])
			dst, arg := l.dh[r*H:(r+1)*H], l.arg[r*H:(r+1)*H]
			for j, v := range dy[i*H : (i+1)*H] {
				if int(arg[j]) == t {
					dst[j] += v
				}
			}
		}
	}
}
