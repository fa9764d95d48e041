package nn

// lstm is a single-layer LSTM with gate order i, f, g, o (as PyTorch and
// Keras). Parameters: kernel W [in, 4H], recurrent U [H, 4H], bias [4H].
//
// Internally everything is time-major ([step, sample, ...]) so that each
// step's rows are contiguous: the input projection x·W for all steps is one
// GEMM up front, each step adds h·U with one GEMM over all four gates, and
// the backward pass gets dW and dU as one GEMM each over all steps.
//
// Without return_sequences the output of sample i is h at its last real
// step, lengths[i]-1, with lengths from the embedding (all steps when there
// is none). Rows are sorted by length so that step t only computes the
// samples still running, and the batch stops at its longest sample. With
// return_sequences every step's h is output, padded steps included. Under
// --threads the recurrence runs as ranges of rows, one per core
// (lstm_split.go).
type lstm struct {
	steps, in, units int
	seq              bool

	w, u, b    []float32
	dw, du, db []float32

	teff   int       // steps run in the last forward pass
	lens   []int32   // per sample: its length (last real step + 1)
	perm   []int32   // sorted row -> sample, longest first
	active []int32   // per step: rows still running (a prefix)
	count  []int32   // counting-sort scratch
	xt     []float32 // [teff, n, in] input, time-major
	z      []float32 // [teff, n, 4H] gate activations i f g o
	hs     []float32 // [teff+1, n, H], hs[0] = 0
	cs     []float32 // [teff+1, n, H], cs[0] = 0
	tc     []float32 // [teff, n, H] tanh(c)
	y      []float32 // output
	dz     []float32 // [teff, n, 4H]
	dh     []float32 // [n, H]
	dc     []float32 // [n, H]
	dxt    []float32
	dx     []float32

	dy       []float32 // backward's output gradient, for backwardRows
	rowSplit lstmRows
}

func (l *lstm) kind() string { return "lstm" }

func (l *lstm) params() []paramDef {
	g := 4 * l.units
	return []paramDef{
		{name: "kernel", shape: []int{l.in, g}, init: initGlorot, fanIn: l.in, fanOut: g},
		{name: "recurrent", shape: []int{l.units, g}, init: initGlorot, fanIn: l.units, fanOut: g},
		{name: "bias", shape: []int{g}, init: initLSTMBias},
	}
}

func (l *lstm) bind(p, g [][]float32) {
	l.w, l.u, l.b = p[0], p[1], p[2]
	l.dw, l.du, l.db = g[0], g[1], g[2]
}

// order sorts the batch by length, longest first (a stable counting sort
// into l.perm), and sets l.active[t], the number of samples still running
// at step t. Sorted, the running samples are always a prefix of the rows,
// so each step only computes those (as PyTorch's packed sequences do).
func (l *lstm) order(c *batchCtx) (T int) {
	n := c.n
	l.lens = growInt32(l.lens, n)
	for i := range l.lens {
		L := int32(l.steps)
		if !l.seq && c.hasLengths {
			L = min(max(c.lengths[i], 1), int32(l.steps))
		}
		l.lens[i] = L
		T = max(T, int(L))
	}
	l.count = growInt32(l.count, l.steps+2)
	clear(l.count)
	for _, L := range l.lens {
		l.count[L]++
	}
	// active[t] = #samples with length > t; start[L] = first row of length L.
	l.active = growInt32(l.active, T+1)
	run := int32(0)
	for L := l.steps; L >= 1; L-- {
		c := l.count[L]
		l.count[L] = run // now the first sorted row of length L
		run += c
		if L-1 <= T {
			l.active[L-1] = run
		}
	}
	l.active[T] = 0
	l.perm = growInt32(l.perm, n)
	for i, L := range l.lens {
		l.perm[l.count[L]] = int32(i)
		l.count[L]++
	}
	return T
}

func (l *lstm) forward(c *batchCtx, x []float32) []float32 {
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
	sgemm(false, false, T*n, G, I, 1, l.xt, I, l.w, G, 0, l.z, G)
	nH := n * H
	l.hs = grow(l.hs, (T+1)*nH)
	l.cs = grow(l.cs, (T+1)*nH)
	l.tc = grow(l.tc, T*nH)
	clear(l.hs[:nH])
	clear(l.cs[:nH])
	l.runRows(n, false)
	if l.seq {
		l.y = grow(l.y, n*l.steps*H)
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

func (l *lstm) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	n, H, I, T := c.n, l.units, l.in, l.teff
	G := 4 * H
	nH := n * H
	l.dz = grow(l.dz, T*n*G)
	l.dh = grow(l.dh, nH)
	l.dc = grow(l.dc, nH)
	l.dy = dy
	l.runRows(n, true)
	l.dy = nil
	// Rows of finished samples have dZ = 0, so these products over all
	// rows only add what the running ones contribute.
	sgemm(true, false, I, G, T*n, 1, l.xt, I, l.dz, G, 0, l.dw, G)
	// hs[0:T] are the previous hidden states of steps 0..T-1 (hs[0] = 0).
	sgemm(true, false, H, G, T*n, 1, l.hs, H, l.dz, G, 0, l.du, G)
	clear(l.db)
	for r := 0; r < T*n; r++ {
		for j, v := range l.dz[r*G : (r+1)*G] {
			l.db[j] += v
		}
	}
	if !needDx {
		return nil
	}
	l.dxt = grow(l.dxt, T*n*I)
	sgemm(false, true, T*n, I, G, 1, l.dz, G, l.w, G, 0, l.dxt, I)
	l.dx = grow(l.dx, n*l.steps*I)
	for r, i := range l.perm {
		for t := 0; t < T; t++ {
			copy(l.dx[(int(i)*l.steps+t)*I:(int(i)*l.steps+t+1)*I], l.dxt[(t*n+r)*I:(t*n+r+1)*I])
		}
		clear(l.dx[(int(i)*l.steps+T)*I : (int(i)+1)*l.steps*I])
	}
	return l.dx
}
