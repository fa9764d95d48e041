package nn

import "github.com/shoalmesh/shoal/engine/gemm"

// dense is y = act(x·W + b) on the last axis; W is [in, out] (Keras layout)
// so that the forward product needs no transpose.
type dense struct {
	in, out int
	outer   int // rows per sample (product of the leading axes)
	act     actKind
	w, b    []float32
	dw, db  []float32
	y, dx   []float32

	partials [][]float32 // partial products of parts 1.. of a split forward
	split    denseSplit
	// dwParts, dbParts: weight and bias gradients of parts 1.. of a
	// backward pass split by rows (dense_split.go).
	dwParts, dbParts [][]float32
	rowSplit         denseRows
}

func (l *dense) kind() string { return "dense" }

func (l *dense) params() []paramDef {
	k := initGlorot
	if l.act == actReLU {
		k = initHe
	}
	return []paramDef{
		{name: "kernel", shape: []int{l.in, l.out}, init: k, fanIn: l.in, fanOut: l.out},
		{name: "bias", shape: []int{l.out}, init: initZero},
	}
}

func (l *dense) bind(p, g [][]float32) {
	l.w, l.b, l.dw, l.db = p[0], p[1], g[0], g[1]
}

func (l *dense) forward(c *batchCtx, x []float32) []float32 {
	rows := c.n * l.outer
	l.y = grow(l.y, rows*l.out)
	y := l.y
	// Under --threads a small layer splits by rows, a large one with more
	// inputs than outputs by input feature (dense_split.go); the others
	// leave it to gemm.Sgemm. Backward makes the same choice.
	if parts := l.rowParts(rows); parts > 1 {
		l.forwardRows(x, rows, parts)
		return y
	}
	if parts := l.splitParts(rows); parts > 1 {
		l.forwardSplit(x, rows, parts)
		l.finishSplit(rows, parts)
		return y
	}
	sgemmEp(false, false, rows, l.out, l.in, 1, x, l.in, l.w, l.out, 0, y, l.out, l.epilogue())
	l.actAfterEpilogue(0, rows)
	return y
}

// epilogue is the part of the bias and activation that gemm fuses into
// the product (no second pass over y): the bias, and ReLU. Each element
// gets the bits of the product followed by biasAct.
func (l *dense) epilogue() gemm.Epilogue {
	return gemm.Epilogue{Bias: l.b, ReLU: l.act == actReLU}
}

// actAfterEpilogue applies, to rows [lo, hi) of y, the activations that
// the epilogue does not fuse (tanh, sigmoid, softmax).
func (l *dense) actAfterEpilogue(lo, hi int) {
	if l.act != actLinear && l.act != actReLU {
		applyAct(l.act, l.y[lo*l.out:hi*l.out], l.out)
	}
}

// sgemmEpFunc is the signature of gemm.SgemmEpilogue.
type sgemmEpFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep gemm.Epilogue)

// sgemmEp and sgemmEpSerial are engine/gemm's SgemmEpilogue and
// SgemmEpilogueSerial, swappable like sgemm.
var (
	sgemmEp       sgemmEpFunc = gemm.SgemmEpilogue
	sgemmEpSerial sgemmEpFunc = gemm.SgemmEpilogueSerial
)

// biasAct adds the bias to rows [lo, hi) of y and applies the activation,
// in one pass for ReLU: after the partial products of a split by feature
// are summed (the other paths fuse it into the product, see epilogue).
func (l *dense) biasAct(lo, hi int) {
	y := l.y[lo*l.out : hi*l.out]
	switch l.act {
	case actReLU:
		for r := 0; r < hi-lo; r++ {
			addReLU(y[r*l.out:(r+1)*l.out], l.b)
		}
	default:
		for r := 0; r < hi-lo; r++ {
			addTo(y[r*l.out:(r+1)*l.out], l.b)
		}
		if l.act != actLinear {
			applyAct(l.act, y, l.out)
		}
	}
}

func (l *dense) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	rows := c.n * l.outer
	dz := dy[:rows*l.out]
	if needDx {
		l.dx = grow(l.dx, rows*l.in)
	}
	if parts := l.rowParts(rows); parts > 1 {
		l.backwardRows(x, dz, rows, parts, needDx)
	} else if parts := l.splitParts(rows); parts > 1 {
		l.actGradSplit(dz, rows)
		l.backwardSplit(x, dz, rows, parts, needDx)
	} else {
		actBackward(l.act, l.y, dz, l.out)
		sgemm(true, false, l.in, l.out, rows, 1, x, l.in, dz, l.out, 0, l.dw, l.out)
		l.biasGrad(l.db, dz, rows)
		if needDx {
			sgemm(false, true, rows, l.in, l.out, 1, dz, l.out, l.w, l.out, 0, l.dx, l.in)
		}
	}
	if !needDx {
		return nil
	}
	return l.dx
}

// biasGrad sets db to the column sums of the rows×out matrix dz.
func (l *dense) biasGrad(db, dz []float32, rows int) {
	clear(db)
	for r := 0; r < rows; r++ {
		addTo(db, dz[r*l.out:(r+1)*l.out])
	}
}
