package nn

import (
	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/par"
)

// A dense layer under --threads N splits its work by input feature: W's
// rows go to N parts in par.Range, and part i does everything that touches
// rows Ki — the forward partial product x[:, Ki]·W[Ki, :], the weight
// gradient dW[Ki, :] = x[:, Ki]ᵀ·dz and the input gradient
// dx[:, Ki] = dz·W[Ki, :]ᵀ — after which the calling goroutine sums the
// partial products into y along with the bias and activation.
//
// Why not let gemm.Sgemm split each product by C's rows or columns: then the
// forward product hands each core half of W's columns and the weight gradient
// half of its rows, so every step half of W and of x crosses between the
// cores' caches (for the mlp's first layer about 400 KB a step, which measured
// as costly as the arithmetic saved). Split by input feature, W's rows, their
// gradient and — because the optimizer splits the flat parameters with the
// same par.Range, and train gathers a batch's features with it too — Adam's
// moments and x's columns stay in one core's cache from step to step. What
// crosses is a partial product and dz, rows×out floats each.

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
var sgemmSerial = gemm.SgemmSerial
