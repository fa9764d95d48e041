package nn

import "github.com/shoalmesh/shoal/engine/qgemm"

// qlstm is lstm with int8 kernel and recurrent weights. It reuses the
// float layer's bookkeeping (sorting by length, time-major buffers, the
// gate loop of forwardRows); only the two products change: the input
// projection of all steps is one int8 product, and each step's h·U is an
// int8 product added into the step's gates (qgemm's Accumulate), with h
// quantized per row each step (h is in [-1, 1], its scale changes little).
type qlstm struct {
	lstm
	wq, uq *qgemm.Weights
	max    float32 // static input maximum, 0 = dynamic
	xq, hq actQuant
	prod   sgemmFunc // recurrent, bound once so forward does not allocate
	qrev   *qlstm    // the reverse direction of a bidirectional layer
}

// newQLSTM makes the int8 twin of one direction of l (pooling, reverse
// reading), from its packed weights and float bias.
func newQLSTM(l *lstm, wq, uq *qgemm.Weights, bias []float32) *qlstm {
	q := &qlstm{lstm: lstm{steps: l.steps, in: l.in, units: l.units, seq: l.seq, pool: l.pool, reverse: l.reverse, b: bias, int8Rec: true},
		wq: wq, uq: uq}
	q.prod = q.recurrent
	return q
}

func (l *qlstm) kind() string          { return "lstm" }
func (l *qlstm) params() []paramDef    { return nil }
func (l *qlstm) bind(_, _ [][]float32) {}
func (l *qlstm) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}

// recurrent is the sgemmFunc forwardRows calls for z += h·U: a is m rows
// of h (stride lda = H), c the step's gates (stride ldc = 4H).
func (l *qlstm) recurrent(_, _ bool, m, _, k int, _ float32, a []float32, lda int, _ []float32, _ int, _ float32, c []float32, ldc int) {
	codes, cl, as := l.hq.rows(a, m, k)
	qgemm.Gemm(m, codes, cl, as, l.uq, c, ldc, qgemm.Accumulate)
}

func (l *qlstm) forward(c *batchCtx, x []float32) []float32 {
	if l.qrev == nil {
		return l.forwardDir(c, x)
	}
	yf := l.forwardDir(c, x)
	yr := l.qrev.forwardDir(c, x)
	return joinDirections(&l.ybi, yf, yr, c.n, l.units)
}

func (l *qlstm) forwardDir(c *batchCtx, x []float32) []float32 {
	n, I := c.n, l.in
	G := 4 * l.units
	T := l.order(c)
	l.teff = T
	l.gather(x, n, T)
	l.z = grow(l.z, T*n*G)
	l.xq.max = l.max
	codes, cl, as := l.xq.rows(l.xt, T*n, I)
	qgemm.Gemm(T*n, codes, cl, as, l.wq, l.z, G, 0)
	l.startStates(n, T)
	l.forwardRows(n, 0, n, l.prod)
	return l.output(n)
}
