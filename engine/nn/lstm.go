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
// is none), or the mean or maximum of h over its real steps (pool). A
// bidirectional layer runs a second LSTM (rev) over each sample's real
// steps in reverse and outputs both, [forward, reverse]. Rows are sorted by length so that step t only computes the
// samples still running, and the batch stops at its longest sample. With
// return_sequences every step's h is output, padded steps included. Under
// --threads the recurrence runs as ranges of rows, one per core
// (lstm_split.go). That is the training pass; inference (Model.Forward)
// takes lstm_infer.go's pass where its kernel runs, which keeps none of
// the per-step buffers below.
type lstm struct {
	steps, in, units int
	seq              bool
	pool             lstmPool
	// reverse: this direction reads each sample's real steps backwards,
	// from its last real token to its first (padding is never read).
	reverse bool
	// rev is the reverse direction of a bidirectional layer, with its own
	// parameters; the layer's output is [forward H, reverse H] per sample.
	rev *lstm
	// int8Rec: forwardRows gets the int8 model's recurrent product (qlstm).
	int8Rec bool

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
	arg    []int32   // max pooling: per sorted row and unit, the step of the maximum
	y      []float32 // output
	dz     []float32 // [teff, n, 4H]
	dh     []float32 // [n, H]
	dc     []float32 // [n, H]
	dxt    []float32
	dx     []float32

	ybi, dyf, dyr []float32 // bidirectional: the joined output, the split gradient

	dy       []float32 // backward's output gradient, for backwardRows
	rowSplit lstmRows

	inf lstmInfer // the inference pass's state (lstm_infer.go)
	// embed: the embedding right before this layer, whose table rows the
	// inference pass reads itself (linkEmbeddingLSTM); nil otherwise.
	embed *embedding
}

// lstmPool is how an LSTM without return_sequences turns a sample's hidden
// states into one vector: the state at its last real step, or the mean or
// the maximum (per unit) over its real steps. Padding steps never count.
type lstmPool int

const (
	poolLast lstmPool = iota
	poolMean
	poolMax
)

// parsePool maps a spec's pooling ("" is "last").
func parsePool(s string) lstmPool {
	switch s {
	case "mean":
		return poolMean
	case "max":
		return poolMax
	}
	return poolLast
}

// newLSTM builds the layer of a spec: one direction, or two.
func newLSTM(steps, in int, ls LayerSpec) *lstm {
	pool := parsePool(ls.Pooling)
	l := &lstm{steps: steps, in: in, units: ls.Units, seq: ls.ReturnSequences, pool: pool}
	if ls.Bidirectional {
		l.rev = &lstm{steps: steps, in: in, units: ls.Units, pool: pool, reverse: true}
	}
	return l
}

func (l *lstm) kind() string { return "lstm" }

// The reverse direction's tensors are named "reverse.kernel" and so on,
// so that they end as the forward ones do (prune and the int8 files find
// weights by those endings).
func (l *lstm) params() []paramDef {
	g := 4 * l.units
	defs := []paramDef{
		{name: "kernel", shape: []int{l.in, g}, init: initGlorot, fanIn: l.in, fanOut: g},
		{name: "recurrent", shape: []int{l.units, g}, init: initGlorot, fanIn: l.units, fanOut: g},
		{name: "bias", shape: []int{g}, init: initLSTMBias},
	}
	if l.rev != nil {
		for _, d := range defs[:3] {
			d.name = "reverse." + d.name
			defs = append(defs, d)
		}
	}
	return defs
}

func (l *lstm) bind(p, g [][]float32) {
	l.w, l.u, l.b = p[0], p[1], p[2]
	l.dw, l.du, l.db = g[0], g[1], g[2]
	if l.rev != nil {
		l.rev.bind(p[3:], g[3:])
	}
}

// outWidth is the width of one sample's output (without return_sequences).
func (l *lstm) outWidth() int {
	if l.rev != nil {
		return 2 * l.units
	}
	return l.units
}

func (l *lstm) forward(c *batchCtx, x []float32) []float32 {
	if !c.train && l.inferKernel() {
		return l.infer(c, x) // keeps nothing for backward
	}
	if l.rev == nil {
		return l.forwardDir(c, x)
	}
	yf := l.forwardDir(c, x)
	yr := l.rev.forwardDir(c, x)
	return joinDirections(&l.ybi, yf, yr, c.n, l.units)
}

// joinDirections writes [f_i, r_i] for each of the n samples into *buf.
func joinDirections(buf *[]float32, yf, yr []float32, n, H int) []float32 {
	*buf = grow(*buf, 2*n*H)
	y := *buf
	for i := 0; i < n; i++ {
		copy(y[2*i*H:(2*i+1)*H], yf[i*H:(i+1)*H])
		copy(y[(2*i+1)*H:(2*i+2)*H], yr[i*H:(i+1)*H])
	}
	return y
}

func (l *lstm) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	if l.rev == nil {
		return l.backwardDir(c, x, dy, needDx)
	}
	n, H := c.n, l.units
	l.dyf = grow(l.dyf, n*H)
	l.dyr = grow(l.dyr, n*H)
	for i := 0; i < n; i++ {
		copy(l.dyf[i*H:(i+1)*H], dy[2*i*H:(2*i+1)*H])
		copy(l.dyr[i*H:(i+1)*H], dy[(2*i+1)*H:(2*i+2)*H])
	}
	dx := l.backwardDir(c, x, l.dyf, needDx)
	dxr := l.rev.backwardDir(c, x, l.dyr, needDx)
	if !needDx {
		return nil
	}
	addTo(dx, dxr)
	return dx
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

// gather sets l.xt, the time-major input of the steps run: row r of step
// t is sample perm[r]'s step t, or for the reverse direction its step
// L-1-t (L its length), and zeros past its end.
func (l *lstm) gather(x []float32, n, T int) {
	I := l.in
	l.xt = grow(l.xt, T*n*I)
	for r, i := range l.perm[:n] {
		L := int(l.lens[i])
		src := x[int(i)*l.steps*I : (int(i)+1)*l.steps*I]
		for t := 0; t < T; t++ {
			dst := l.xt[(t*n+r)*I : (t*n+r+1)*I]
			switch {
			case !l.reverse:
				copy(dst, src[t*I:(t+1)*I])
			case t < L:
				copy(dst, src[(L-1-t)*I:(L-t)*I])
			default:
				clear(dst)
			}
		}
	}
}

// forwardDir runs one direction: gather, the input projection of every
// step as one product, the recurrence, the output.
func (l *lstm) forwardDir(c *batchCtx, x []float32) []float32 {
	n, H, I := c.n, l.units, l.in
	G := 4 * H
	T := l.order(c)
	l.teff = T
	l.gather(x, n, T)
	l.z = grow(l.z, T*n*G)
	sgemm(false, false, T*n, G, I, 1, l.xt, I, l.w, G, 0, l.z, G)
	l.startStates(n, T)
	l.runRows(n, false)
	return l.output(n)
}

// startStates sizes the state buffers for n rows and T steps and zeroes
// the initial states.
func (l *lstm) startStates(n, T int) {
	nH := n * l.units
	l.hs = grow(l.hs, (T+1)*nH)
	l.cs = grow(l.cs, (T+1)*nH)
	l.tc = grow(l.tc, T*nH)
	clear(l.hs[:nH])
	clear(l.cs[:nH])
}

// output turns the hidden states of the last forward pass into the
// layer's output, in sample order: every step's h with return_sequences,
// else the pooled h of each sample's real steps.
func (l *lstm) output(n int) []float32 {
	H, T := l.units, l.teff
	if l.seq {
		l.y = grow(l.y, n*l.steps*H)
		clear(l.y) // steps past the batch's longest sample
		for r, i := range l.perm[:n] {
			for t := 0; t < T; t++ {
				copy(l.y[(int(i)*l.steps+t)*H:(int(i)*l.steps+t+1)*H], l.hs[((t+1)*n+r)*H:((t+1)*n+r+1)*H])
			}
		}
		return l.y
	}
	l.y = grow(l.y, n*H)
	if l.pool == poolMax {
		l.arg = growInt32(l.arg, n*H)
	}
	for r, i := range l.perm[:n] {
		L := int(l.lens[i])
		y := l.y[int(i)*H : (int(i)+1)*H]
		switch l.pool {
		case poolLast:
			copy(y, l.hs[(L*n+r)*H:(L*n+r+1)*H])
		case poolMean:
			clear(y)
			for t := 1; t <= L; t++ {
				for j, v := range l.hs[(t*n+r)*H : (t*n+r+1)*H] {
					y[j] += v
				}
			}
			inv := 1 / float32(L)
			for j := range y {
				y[j] *= inv
			}
		case poolMax:
			arg := l.arg[r*H : (r+1)*H]
			copy(y, l.hs[(n+r)*H:(n+r+1)*H])
			clear(arg)
			for t := 2; t <= L; t++ {
				for j, v := range l.hs[(t*n+r)*H : (t*n+r+1)*H] {
					if v > y[j] {
						y[j], arg[j] = v, int32(t-1)
					}
				}
			}
		}
	}
	return l.y
}

// backwardDir is backward for one direction.
func (l *lstm) backwardDir(c *batchCtx, x, dy []float32, needDx bool) []float32 {
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
		dx := l.dx[int(i)*l.steps*I : (int(i)+1)*l.steps*I]
		if l.reverse {
			// Step t read the sample's step L-1-t; past L nothing was read.
			L := int(l.lens[i])
			for t := 0; t < L; t++ {
				copy(dx[(L-1-t)*I:(L-t)*I], l.dxt[(t*n+r)*I:(t*n+r+1)*I])
			}
			clear(dx[L*I:])
			continue
		}
		for t := 0; t < T; t++ {
			copy(dx[t*I:(t+1)*I], l.dxt[(t*n+r)*I:(t*n+r+1)*I])
		}
		clear(dx[T*I:])
	}
	return l.dx
}
