package nn

import (
	"math"

	"github.com/shoalmesh/shoal/engine/par"
)

// Losses work on logits and are written to be stable for any finite input:
// softmax cross-entropy through log-sum-exp with the row maximum taken
// out, binary cross-entropy through max(z,0) - z·y + log1p(exp(-|z|)).
//
// Gradients below 1e-30 are flushed to 0 so that confident predictions do
// not feed subnormal floats (slow on x86) into the backward pass.
//
// Labels that are not a valid class index (or NaN) add neither loss nor
// gradient; CheckLabels rejects them up front. Mean is over all n samples.

// label returns the class index for y, or -1 when it is not one of 0..k-1.
func label(y float32, k int) int {
	if !(y >= 0 && y < float32(k)) {
		return -1
	}
	c := int(y)
	if float32(c) != y {
		return -1
	}
	return c
}

// softmaxCE returns the mean loss and, if grad != nil, writes d(loss)/d(logits).
// Sums are in float64 so that the mean does not depend on batch order much.
func softmaxCE(logits, y []float32, n, k int, grad []float32) float32 {
	return float32(softmaxCESum(logits, y, n, k, grad, 1/float32(n)) / float64(n))
}

// softmaxCESum is softmaxCE's work on n rows: it returns the sum of their
// losses and writes gradients scaled by inv (1 / the whole batch's size), so
// that a batch split in row ranges gets the same gradients as in one piece.
func softmaxCESum(logits, y []float32, n, k int, grad []float32, inv float32) float64 {
	var total float64
	for i := 0; i < n; i++ {
		z := logits[i*k : (i+1)*k]
		c := label(y[i], k)
		m := z[0]
		for _, v := range z[1:] {
			if v > m {
				m = v
			}
		}
		var s float32
		if grad == nil {
			for _, v := range z {
				s += exp32(v - m)
			}
		} else {
			// Keep each exp in grad for the gradient below: the exps are
			// most of the loss's time.
			g := grad[i*k : (i+1)*k]
			expShift(g, z, m)
			for _, e := range g { // in order: the sum's rounding as before
				s += e
			}
		}
		lse := m + float32(math.Log(float64(s)))
		if c >= 0 {
			total += float64(lse - z[c])
		}
		if grad != nil {
			g := grad[i*k : (i+1)*k]
			if c < 0 {
				clear(g)
				continue
			}
			invS := inv / s
			for j, e := range g {
				g[j] = flushM(e * invS)
			}
			g[c] -= inv
		}
	}
	return total
}

// lossSplit is a softmax cross-entropy over a batch cut into row ranges
// (par.Range, as the dense layers before it cut theirs), each part leaving
// its loss sum in sums.
type lossSplit struct {
	logits, y, grad []float32
	n, k            int
	sums            [par.MaxParts]float64
}

func (s *lossSplit) RunPart(i, parts int) {
	lo, hi := par.Range(i, parts, s.n)
	s.sums[i] = 0
	if lo < hi {
		s.sums[i] = softmaxCESum(s.logits[lo*s.k:hi*s.k], s.y[lo:hi], hi-lo, s.k, s.grad[lo*s.k:hi*s.k], 1/float32(s.n))
	}
}

// minSplitLoss is the smallest batch, in logits, whose loss is split: the
// exps cost about 12 ns each, a hand-off about a microsecond.
const minSplitLoss = 256

// softmaxLoss is softmaxCE with gradients, split by rows across par.Threads()
// when the batch is large enough. The parts' sums are added in part order:
// the loss is reproducible for a thread count, and equal to one thread's up
// to float64 rounding.
func (m *Model) softmaxLoss(logits, y []float32, n int) float32 {
	k := m.outSize
	parts := partsOf16(n)
	if parts < 2 || n*k < minSplitLoss {
		return softmaxCE(logits, y, n, k, m.dlogits)
	}
	s := &m.lossSplit
	s.logits, s.y, s.grad, s.n, s.k = logits, y, m.dlogits, n, k
	par.Do(parts, s)
	var total float64
	for _, v := range s.sums[:parts] {
		total += v
	}
	s.logits, s.y, s.grad = nil, nil, nil
	return float32(total / float64(n))
}

// binaryCE is the mean BCE on logits (k == 1); y must be 0 or 1 (values
// in between are accepted as soft targets).
func binaryCE(logits, y []float32, n int, grad []float32) float32 {
	var total float64
	inv := 1 / float32(n)
	for i := 0; i < n; i++ {
		z, t := logits[i], y[i]
		if !(t >= 0 && t <= 1) {
			if grad != nil {
				grad[i] = 0
			}
			continue
		}
		a := z
		if a < 0 {
			a = -a
		}
		l := float64(max(z, 0)-z*t) + math.Log1p(math.Exp(-float64(a)))
		total += l
		if grad != nil {
			grad[i] = flushM((sigmoid32(z) - t) * inv)
		}
	}
	return float32(total / float64(n))
}

// Probabilities writes softmax of each row of logits (n rows of k) to out,
// or the sigmoid when k == 1.
func Probabilities(logits []float32, n, k int, out []float32) {
	if k == 1 {
		for i := 0; i < n; i++ {
			out[i] = sigmoid32(logits[i])
		}
		return
	}
	for i := 0; i < n; i++ {
		copy(out[i*k:(i+1)*k], logits[i*k:(i+1)*k])
		softmaxRow(out[i*k : (i+1)*k])
	}
}

// Predicted returns the predicted class of row i: the argmax, or for one
// output whether the logit is positive.
func Predicted(logits []float32, i, k int) int {
	if k == 1 {
		if logits[i] > 0 {
			return 1
		}
		return 0
	}
	row := logits[i*k : (i+1)*k]
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}
