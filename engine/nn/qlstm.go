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
}

func newQLSTM(l *lstm, wq, uq *qgemm.Weights, bias []float32) *qlstm {
	q := &qlstm{lstm: lstm{steps: l.steps, in: l.in, units: l.units, seq: l.seq, b: bias}, wq: wq, uq: uq}
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
	n, H, I := c.n, l.units, l.in
	G := 4 * H
	T := l.order(c)
	l.teff = T
	l.xt = grow(l.xt, T*n*I)
	for t := 0; t < T; t++ {
		for r, i := range l.perm {
			copy(l.xt[(t*n+r)*I:(t*n+r+1)*I], x[(int(i)*l.steps+t)*I:(int(i)*l.steps+t+1)*I])
		}
	}
	l.z = grow(l.z, T*n*G)
	l.xq.max = l.max
	codes, cl, as := l.xq.rows(l.xt, T*n, I)
	qgemm.Gemm(T*n, codes, cl, as, l.wq, l.z, G, 0)
	nH := n * H
	l.hs = grow(l.hs, (T+1)*nH)
	l.cs = grow(l.cs, (T+1)*nH)
	l.tc = grow(l.tc, T*nH)
	clear(l.hs[:nH])
	clear(l.cs[:nH])
	l.forwardRows(n, 0, n, l.prod)
	if l.seq {
		l.y = grow(l.y, n*l.steps*H)
		clear(l.y)
		for r, i := range l.perm {
			for t := 0; t < T; t++ {
				copy(l.y[(int(i)*l.steps+t)*H:(int(i)*l.steps+t+1)*H], l.hs[((t+1)*n+r)*H:((t+1)*n+r+1)*H])
			}
		}
		return l.y
	}
	l.y = grow(l.y, n*H)
	for r, i := range l.perm {
		L := int(l.lens[i])
		copy(l.y[int(i)*H:(int(i)+1)*H], l.hs[(L*n+r)*H:(L*n+r+1)*H])
	}
	return l.y
}
