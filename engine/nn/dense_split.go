package nn

import (
	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/par"
)

// A dense layer under --threads N splits its work by input feature: W's
// rows go to N parts in par.Range, and part i does everything that touches
// rows Ki — the forward partial product x[:, Ki]·W[Ki, :], the weight
// gradient dW[Ki, :] = x[:, Ki]ᵀ·dz and the input gradient
// dx[:, Ki] = dz·W[Ki, :]ᵀ. The element-wise work around it — summing the
// partial products into y with the bias and activation, and the activation
// gradient before the backward products — is split by rows (finishSplit,
// actGradSplit below).
//
// Why not let gemm.Sgemm split each product by C's rows or columns: then the
// forward product hands each core half of W's columns and the weight gradient
// half of its rows, so every step half of W and of x crosses between the
// cores' caches (for the mlp's first layer about 400 KB a step, which measured
// as costly as the arithmetic saved). Split by input feature, W's rows, their
// gradient and — because the optimizer splits the flat parameters with the
// same par.Range — Adam's moments stay in one core's cache from step to step.
// What crosses is half of x (rows×in/2 floats, gathered by rows), half of
// each partial product and of dz (rows×out/2 each).

// minSplitMACs is the smallest rows·in·out worth splitting: below it the
// hand-offs and the partial sums cost more than the halved product saves.
const minSplitMACs = 1 << 17

// splitParts reports how many parts the product for rows rows should be
// split into, 1 meaning not at all. Only layers with more inputs than
// outputs split by input feature: the partial sums cost rows·out per extra
// part, small next to rows·in·out/parts only then. The others leave the
// splitting to gemm.Sgemm.
func (l *dense) splitParts(rows int) int {
	t := par.Threads()
	if t < 2 || l.in < 2*l.out || rows*l.in*l.out < minSplitMACs {
		return 1
	}
	return min(t, l.in/16) // at least one cache line of features a part
}

// denseSplit is one forward or backward pass of a dense layer cut by input
// feature; it lives in the layer so that a step does not allocate.
type denseSplit struct {
	l        *dense
	backward bool
	rows     int
	x, dz    []float32
	needDx   bool
}

func (s *denseSplit) RunPart(i, n int) {
	l := s.l
	lo, hi := par.Range(i, n, l.in)
	if !s.backward {
		c := l.y
		if i > 0 {
			c = l.partials[i-1]
		}
		if lo == hi { // no features left for this part: it adds nothing
			clear(c)
			return
		}
		sgemmSerial(false, false, s.rows, l.out, hi-lo, 1, s.x[lo:], l.in, l.w[lo*l.out:], l.out, 0, c, l.out)
		return
	}
	if lo == hi {
		return
	}
	sgemmSerial(true, false, hi-lo, l.out, s.rows, 1, s.x[lo:], l.in, s.dz, l.out, 0, l.dw[lo*l.out:], l.out)
	if s.needDx {
		sgemmSerial(false, true, s.rows, hi-lo, l.out, 1, s.dz, l.out, l.w[lo*l.out:], l.out, 0, l.dx[lo:], l.in)
	}
}

// forwardSplit leaves x·W in y plus l.partials[:parts-1], to be summed.
func (l *dense) forwardSplit(x []float32, rows, parts int) {
	for len(l.partials) < parts-1 {
		l.partials = append(l.partials, nil)
	}
	for i := range l.partials[:parts-1] {
		l.partials[i] = grow(l.partials[i], rows*l.out)
	}
	l.split = denseSplit{l: l, rows: rows, x: x}
	par.Do(parts, &l.split)
	l.split = denseSplit{}
}

// backwardSplit writes dW and, if needDx, dx (already sized) from dz.
func (l *dense) backwardSplit(x, dz []float32, rows, parts int, needDx bool) {
	l.split = denseSplit{l: l, backward: true, rows: rows, x: x, dz: dz, needDx: needDx}
	par.Do(parts, &l.split)
	l.split = denseSplit{}
}

// sgemmSerial is engine/gemm.SgemmSerial, swappable like sgemm.
var sgemmSerial sgemmFunc = gemm.SgemmSerial

// A small dense layer (the mlp's second: 128 inputs, 10 outputs) is too
// small to split by feature, and its products too small for gemm.Sgemm to
// split, yet on one thread it and the loss after it were about 15% of a
// two-thread mlp step (measured). It splits by rows instead: part i does rows Ri (the
// same par.Range for every layer and the loss, so each core keeps reading
// the rows it wrote), and the weight gradient, a sum over rows, is summed
// from one partial per part.

// Row splitting applies to layers of at most maxRowSplitParams weights
// (the partial weight gradients are summed on one thread) doing at least
// minRowSplitMACs multiply-adds (below that a hand-off costs more than half
// the work).
const (
	maxRowSplitParams = 1 << 14
	minRowSplitMACs   = 1 << 14
)

// rowParts reports how many parts of at least 16 rows a pass over rows rows
// should be split into, 1 meaning not at all.
func (l *dense) rowParts(rows int) int {
	t := par.Threads()
	if t < 2 || l.in*l.out > maxRowSplitParams || rows*l.in*l.out < minRowSplitMACs {
		return 1
	}
	return min(t, rows/16)
}

// rowsMode says which work a denseRows does on its rows.
type rowsMode int

const (
	rowsForward  rowsMode = iota // product, bias and activation
	rowsBackward                 // activation gradient, partial dW and db, dx
	rowsFinish                   // after a split by feature: sum the partial products, bias, activation
	rowsActGrad                  // before a split by feature: activation gradient and partial db
)

// denseRows is one pass of a dense layer cut by rows.
type denseRows struct {
	l      *dense
	mode   rowsMode
	rows   int
	x, dz  []float32
	needDx bool
	parts  int // of the split by feature, for rowsFinish
}

func (s *denseRows) RunPart(i, n int) {
	l := s.l
	lo, hi := par.Range(i, n, s.rows)
	switch s.mode {
	case rowsForward:
		if lo < hi {
			sgemmEpSerial(false, false, hi-lo, l.out, l.in, 1, s.x[lo*l.in:], l.in, l.w, l.out, 0, l.y[lo*l.out:], l.out, l.epilogue())
			l.actAfterEpilogue(lo, hi)
		}
		return
	case rowsFinish:
		y := l.y[lo*l.out : hi*l.out]
		for _, p := range l.partials[:s.parts-1] {
			addTo(y, p[lo*l.out:hi*l.out])
		}
		l.biasAct(lo, hi)
		return
	}
	dw, db := l.dw, l.db
	if i > 0 {
		db = l.dbParts[i-1]
		if s.mode == rowsBackward {
			dw = l.dwParts[i-1]
		}
	}
	if lo == hi { // no rows for this part: it adds nothing
		clear(db)
		if s.mode == rowsBackward {
			clear(dw)
		}
		return
	}
	dz := s.dz[lo*l.out : hi*l.out]
	actBackward(l.act, l.y[lo*l.out:hi*l.out], dz, l.out)
	l.biasGrad(db, dz, hi-lo)
	if s.mode == rowsActGrad {
		return
	}
	sgemmSerial(true, false, l.in, l.out, hi-lo, 1, s.x[lo*l.in:], l.in, dz, l.out, 0, dw, l.out)
	if s.needDx {
		sgemmSerial(false, true, hi-lo, l.in, l.out, 1, dz, l.out, l.w, l.out, 0, l.dx[lo*l.in:], l.in)
	}
}

// partsOf16 is how many parts of at least 16 items (rows, samples) a pass
// over n of them is cut into: the element-wise work around a split by
// feature, a convolution's batch.
func partsOf16(n int) int { return max(min(par.Threads(), n/16), 1) }

// finishSplit sums a split forward's partial products into y and applies
// the bias and activation, by rows: each core reads half of the other's
// partial rather than one core all of it, and the rows it finishes are the
// ones the next layer, split by rows too, reads on that core.
func (l *dense) finishSplit(rows, parts int) {
	l.rowSplit = denseRows{l: l, mode: rowsFinish, rows: rows, parts: parts}
	par.Do(partsOf16(rows), &l.rowSplit)
	l.rowSplit = denseRows{}
}

// actGradSplit is the activation gradient and db before a backward split by
// feature, by rows for the same reason.
func (l *dense) actGradSplit(dz []float32, rows int) {
	parts := partsOf16(rows)
	l.growRowParts(parts, false)
	l.rowSplit = denseRows{l: l, mode: rowsActGrad, rows: rows, dz: dz}
	par.Do(parts, &l.rowSplit)
	l.rowSplit = denseRows{}
	for i := range parts - 1 {
		addTo(l.db, l.dbParts[i])
	}
}

// growRowParts makes room for the partial bias gradients of parts
// 1..parts-1 and, if withDw, their partial weight gradients (not needed, and
// large, for a layer split by feature).
func (l *dense) growRowParts(parts int, withDw bool) {
	for len(l.dbParts) < parts-1 {
		l.dbParts = append(l.dbParts, make([]float32, len(l.db)))
	}
	for withDw && len(l.dwParts) < parts-1 {
		l.dwParts = append(l.dwParts, make([]float32, len(l.dw)))
	}
}

func (l *dense) forwardRows(x []float32, rows, parts int) {
	l.rowSplit = denseRows{l: l, mode: rowsForward, rows: rows, x: x}
	par.Do(parts, &l.rowSplit)
	l.rowSplit = denseRows{}
}

// backwardRows writes dz's activation gradient in place, dW and db (the sums
// of the parts' partials, in part order) and, if needDx, dx.
func (l *dense) backwardRows(x, dz []float32, rows, parts int, needDx bool) {
	l.growRowParts(parts, true)
	l.rowSplit = denseRows{l: l, mode: rowsBackward, rows: rows, x: x, dz: dz, needDx: needDx}
	par.Do(parts, &l.rowSplit)
	l.rowSplit = denseRows{}
	for i := range parts - 1 {
		addTo(l.dw, l.dwParts[i])
		addTo(l.db, l.dbParts[i])
	}
}
