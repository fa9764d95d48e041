package nn

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
	if parts := l.splitParts(rows); parts > 1 {
		l.forwardSplit(x, rows, parts)
		for _, p := range l.partials[:parts-1] {
			addTo(y, p)
		}
	} else {
		sgemm(false, false, rows, l.out, l.in, 1, x, l.in, l.w, l.out, 0, y, l.out)
	}
	// Bias and activation in one pass over y.
	b := l.b
	switch l.act {
	case actReLU:
		for r := 0; r < rows; r++ {
			addReLU(y[r*l.out:(r+1)*l.out], b)
		}
	default:
		for r := 0; r < rows; r++ {
			addTo(y[r*l.out:(r+1)*l.out], b)
		}
		if l.act != actLinear {
			applyAct(l.act, y, l.out)
		}
	}
	return y
}

func (l *dense) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	rows := c.n * l.outer
	dz := dy[:rows*l.out]
	actBackward(l.act, l.y, dz, l.out)
	parts := l.splitParts(rows)
	if parts == 1 {
		sgemm(true, false, l.in, l.out, rows, 1, x, l.in, dz, l.out, 0, l.dw, l.out)
	}
	db := l.db
	clear(db)
	for r := 0; r < rows; r++ {
		addTo(db, dz[r*l.out:(r+1)*l.out])
	}
	if needDx {
		l.dx = grow(l.dx, rows*l.in)
	}
	if parts > 1 {
		l.backwardSplit(x, dz, rows, parts, needDx)
	} else if needDx {
		sgemm(false, true, rows, l.in, l.out, 1, dz, l.out, l.w, l.out, 0, l.dx, l.in)
	}
	if !needDx {
		return nil
	}
	return l.dx
}
