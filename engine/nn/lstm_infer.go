package nn

import (
	"math"

	"github.com/shoalmesh/shoal/engine/par"
)

// The inference forward pass of an LSTM (Model.Forward) keeps nothing for
// a backward pass: no gates, no cell states or tanh(c) per step, no
// time-major copy of the input. Per sample it holds one cell state and two
// hidden states (the previous step's, read by h·U, and the new one),
// swapped each step, plus the running sum or maximum when pooling.
//
// Each step is one kernel call over the running rows (lstmInferAVX512):
// per row and block of 16 units the gate sums start at the bias, take
// x_t·W and h·U in registers and go through the activations into the new
// c and h without touching memory in between. The input product is done
// there too, per step, instead of as one product over all steps up front:
// the kernel reads each row's input where it is (the embedding's output,
// row by row through a pointer per row), so there is no gather into a
// time-major buffer and no [steps, n, 4H] buffer of input projections to
// write and read back, and W and U (2·16 KB at lstm-text's shapes) stay in
// L1 through the whole pass. Rows are sorted by length as in training, so
// step t only runs the samples still going.
//
// The activations use their own exp and reciprocal (a few ulp from the
// training loop's), so inference matches training within float tolerance,
// not bit for bit: TestInferenceMatchesTrainingLSTM.

// lstmInfer is the inference pass's state for one direction.
type lstmInfer struct {
	h     [2][]float32 // [n, H] hidden states, step t reads h[t&1], writes h[(t+1)&1]
	c     []float32    // [n, H] cell states
	pool  []float32    // [n, H] running sum (mean) or maximum (max)
	rows  []*float32   // per sorted row, its input at the current step
	zero  []float32    // the input of a padding token, read from a table
	split lstmInferRows
}

// linkEmbeddingLSTM fuses each embedding that feeds an LSTM running the
// inference kernel into that LSTM's input product, for inference: the
// LSTM reads each token's table row where it lies (through the row
// pointers it hands the kernel anyway), so the embedding writes no
// [n, steps, dim] output for it to read back. Training is unchanged.
func linkEmbeddingLSTM(layers []layer) {
	for i := 0; i+1 < len(layers); i++ {
		e, ok := layers[i].(*embedding)
		l, ok2 := layers[i+1].(*lstm)
		if !ok || !ok2 || !l.inferKernel() || (l.rev != nil && !l.rev.inferKernel()) {
			continue
		}
		e.feedsLSTM = true
		l.embed = e
		if l.rev != nil {
			l.rev.embed = e
		}
	}
}

// inferKernel reports whether l's inference pass runs the fused kernel
// (AVX-512 and a multiple of 16 units); otherwise Forward takes the
// training forward pass.
func (l *lstm) inferKernel() bool {
	return haveAVX512 && l.units%16 == 0 && l.units > 0 && !l.int8Rec && l.in > 0
}

// infer is forward in inference mode: both directions through inferDir.
func (l *lstm) infer(c *batchCtx, x []float32) []float32 {
	if l.embed != nil {
		defer func() { l.embed.tokens = nil }() // the caller's batch, not ours to keep
	}
	if l.rev == nil {
		return l.inferDir(c, x)
	}
	yf := l.inferDir(c, x)
	yr := l.rev.inferDir(c, x)
	return joinDirections(&l.ybi, yf, yr, c.n, l.units)
}

// tokens returns the token ids this pass reads table rows for, or nil
// when it reads x (no fused embedding, or it wrote its output).
func (l *lstm) tokens(x []float32) []float32 {
	if l.embed == nil || x != nil {
		return nil
	}
	return l.embed.tokens
}

// Pool modes of lstmInferAVX512.
const (
	inferPoolNone = 0
	inferPoolSum  = 1
	inferPoolMax  = 2
)

// inferDir runs one direction's inference pass.
func (l *lstm) inferDir(c *batchCtx, x []float32) []float32 {
	n, H := c.n, l.units
	nH := n * H
	T := l.order(c)
	s := &l.inf
	s.h[0] = grow(s.h[0], nH)
	s.h[1] = grow(s.h[1], nH)
	s.c = grow(s.c, nH)
	clear(s.c)
	if cap(s.rows) < n {
		s.rows = make([]*float32, n)
	}
	s.rows = s.rows[:n]
	mode := inferPoolNone
	if !l.seq && l.pool != poolLast {
		s.pool = grow(s.pool, nH)
		mode = inferPoolSum
		clear(s.pool)
		if l.pool == poolMax {
			mode = inferPoolMax
			for j := range s.pool {
				s.pool[j] = float32(math.Inf(-1))
			}
		}
	}
	if l.seq {
		// Every sample runs all steps (order), so every step's h is written.
		l.y = grow(l.y, n*l.steps*H)
	}
	if l.tokens(x) != nil && len(s.zero) != l.in {
		s.zero = make([]float32, l.in)
	}
	l.inferRange(x, n, T, mode)
	clear(s.rows) // drop the pointers into x
	if l.seq {
		return l.y
	}
	l.y = grow(l.y, nH)
	for r, i := range l.perm[:n] {
		L := int(l.lens[i])
		y := l.y[int(i)*H : (int(i)+1)*H]
		switch l.pool {
		case poolLast:
			// Row r last ran at step L-1, which wrote h[L&1].
			copy(y, s.h[L&1][r*H:(r+1)*H])
		case poolMean:
			inv := 1 / float32(L)
			for j, v := range s.pool[r*H : (r+1)*H] {
				y[j] = v * inv
			}
		case poolMax:
			copy(y, s.pool[r*H:(r+1)*H])
		}
	}
	return l.y
}

// inferRange runs all T steps over the n sorted rows, as ranges of rows
// on several cores under --threads when there are enough rows (a row's
// steps depend on nothing but its own, as in lstm_split.go).
func (l *lstm) inferRange(x []float32, n, T, mode int) {
	parts := min(par.Threads(), n/minSplitRows)
	if parts < 2 {
		l.inferRows(x, n, T, mode, 0, n)
		return
	}
	s := &l.inf.split
	*s = lstmInferRows{l: l, x: x, n: n, steps: T, mode: mode}
	l.splitRows(n, parts, s.bounds[:])
	par.Do(parts, s)
	*s = lstmInferRows{}
}

// lstmInferRows is one inference pass over a range of rows.
type lstmInferRows struct {
	l              *lstm
	x              []float32
	n, steps, mode int
	bounds         [par.MaxParts + 1]int
}

func (s *lstmInferRows) RunPart(i, _ int) {
	if lo, hi := s.bounds[i], s.bounds[i+1]; lo < hi {
		s.l.inferRows(s.x, s.n, s.steps, s.mode, lo, hi)
	}
}

// inferRows runs steps 0..T-1 for the sorted rows [lo, hi).
func (l *lstm) inferRows(x []float32, n, T, mode, lo, hi int) {
	H, I := l.units, l.in
	s := &l.inf
	tok := l.tokens(x)
	for t := 0; t < T; t++ {
		a := min(int(l.active[t]), hi) // this range's running rows end here
		if a <= lo {
			break
		}
		for r := lo; r < a; r++ {
			i := int(l.perm[r])
			st := t
			if l.reverse {
				st = int(l.lens[i]) - 1 - t // real steps backwards
			}
			switch {
			case tok == nil:
				s.rows[r] = &x[(i*l.steps+st)*I]
			default:
				// What the embedding would have written: the token's row,
				// zeros for padding and invalid ids.
				if id := l.embed.id(tok[i*l.steps+st]); id >= 0 {
					s.rows[r] = &l.embed.w[id*I]
				} else {
					s.rows[r] = &s.zero[0]
				}
			}
		}
		prev, next := s.h[t&1], s.h[(t+1)&1]
		hk := H
		if t == 0 {
			hk = 0 // h starts at zero
		}
		pool := next // unread with inferPoolNone
		if mode != inferPoolNone {
			pool = s.pool
		}
		lstmInferAVX512(&s.rows[lo], &l.w[0], I, &prev[lo*H], &l.u[0], hk, &l.b[0], &s.c[lo*H], &next[lo*H], &pool[lo*H], a-lo, H, mode)
		if l.seq {
			for r := lo; r < a; r++ {
				i := int(l.perm[r])
				copy(l.y[(i*l.steps+t)*H:(i*l.steps+t+1)*H], next[r*H:(r+1)*H])
			}
		}
	}
}
