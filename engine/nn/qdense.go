package nn

import (
	"github.com/shoalmesh/shoal/engine/qgemm"
)

// qdense is dense with int8 weights: each row of x is quantized on the
// fly (actQuant), multiplied in int8 by qgemm, and the bias and ReLU are
// applied by the kernel as it writes the float output.
type qdense struct {
	in, out, outer int
	act            actKind
	w              *qgemm.Weights
	aq             actQuant
	y              []float32
}

func (l *qdense) kind() string          { return "dense" }
func (l *qdense) params() []paramDef    { return nil }
func (l *qdense) bind(_, _ [][]float32) {}
func (l *qdense) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}

func (l *qdense) forward(c *batchCtx, x []float32) []float32 {
	rows := c.n * l.outer
	l.y = grow(l.y, rows*l.out)
	a, lda, as := l.aq.rows(x, rows, l.in)
	var f qgemm.Flags
	if l.act == actReLU {
		f = qgemm.ReLU
	}
	qgemm.Gemm(rows, a, lda, as, l.w, l.y, l.out, f)
	if l.act != actReLU && l.act != actLinear {
		applyAct(l.act, l.y, l.out)
	}
	return l.y
}

// actQuant quantizes a layer's float input for qgemm: per row with the
// row's own scale (dynamic), or with one scale fixed by calibration
// (static, when max > 0). It owns the code and scale buffers.
type actQuant struct {
	max   float32 // static: the calibrated largest input; 0 = dynamic
	codes []uint8
	as    []float32
}

// rows quantizes m rows of k floats and returns the codes, their row
// stride and the row scales.
func (q *actQuant) rows(x []float32, m, k int) ([]uint8, int, []float32) {
	kp := (k + 3) &^ 3
	q.codes = growU8(q.codes, m*kp)
	q.as = grow(q.as, m)
	if q.max <= 0 {
		qgemm.QuantizeRows(q.codes, kp, x, k, m, k, q.as)
		return q.codes, kp, q.as
	}
	s, inv := qgemm.RowScale(q.max)
	sh := uint8(qgemm.Shift())
	for i := 0; i < m; i++ {
		d := q.codes[i*kp : (i+1)*kp]
		qgemm.QuantizeTo(d, x[i*k:(i+1)*k], inv)
		for j := k; j < kp; j++ {
			d[j] = sh
		}
		q.as[i] = s
	}
	return q.codes, kp, q.as
}

func growU8(b []uint8, n int) []uint8 {
	if cap(b) < n {
		return make([]uint8, n)
	}
	return b[:n]
}
