package nn

import (
	"math"
	"math/rand/v2"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// batchCtx is what travels through the layers for one batch: its size,
// whether it trains, the per-sample sequence lengths (set by an embedding
// from the token ids, read by an LSTM) and the dropout RNG.
type batchCtx struct {
	n          int
	train      bool
	hasLengths bool
	lengths    []int32 // per sample, in 1..steps
	rng        *rand.Rand
	// keepInputs: the caller reads every layer's input after the pass
	// (Calibrate), so no layer may leave its output to the next one to
	// compute (as an embedding feeding an LSTM does in inference).
	keepInputs bool
}

// paramDef declares one parameter tensor of a layer.
type paramDef struct {
	name   string
	shape  []int
	init   initKind
	fanIn  int
	fanOut int
}

type initKind int

const (
	initZero initKind = iota
	initGlorot
	initHe
	initLSTMBias     // zero, forget-gate slice 1
	initSmallUniform // U(-0.05, 0.05), as Keras's embedding
)

// layer is one step of a Sequential model. Buffers it returns are owned by
// the layer and reused between batches; they grow only when a larger batch
// arrives, so steady-state training allocates nothing.
type layer interface {
	kind() string
	params() []paramDef
	// bind hands the layer its parameter and gradient views, in params() order.
	bind(p, g [][]float32)
	// forward computes the output for c.n samples of x.
	forward(c *batchCtx, x []float32) []float32
	// backward takes the gradient of the loss with respect to the output
	// (it may overwrite dy), sets the layer's parameter gradients (they
	// are overwritten, not accumulated) and, if needDx, returns the
	// gradient with respect to x.
	backward(c *batchCtx, x, dy []float32, needDx bool) []float32
}

// actKind is an element-wise activation fused into dense/conv or used as
// a layer of its own.
type actKind int

const (
	actLinear actKind = iota
	actReLU
	actTanh
	actSigmoid
	actSoftmax
)

func parseAct(s string) actKind {
	switch s {
	case "relu":
		return actReLU
	case "tanh":
		return actTanh
	case "sigmoid":
		return actSigmoid
	case "softmax":
		return actSoftmax
	}
	return actLinear
}

// applyAct applies a in place to rows of width w.
func applyAct(a actKind, y []float32, w int) {
	switch a {
	case actReLU:
		for i, v := range y {
			y[i] = max(v, 0) // +0, never -0: see reluBackward
		}
	case actTanh:
		for i, v := range y {
			y[i] = tanh32(v)
		}
	case actSigmoid:
		for i, v := range y {
			y[i] = sigmoid32(v)
		}
	case actSoftmax:
		for r := 0; r+w <= len(y); r += w {
			softmaxRow(y[r : r+w])
		}
	}
}

// actBackward turns dy into dz = dy·a'(·) in place, using the activation's
// output y.
func actBackward(a actKind, y, dy []float32, w int) {
	dy = dy[:len(y)]
	switch a {
	case actReLU:
		reluBackward(y, dy)
	case actTanh:
		for i, v := range y {
			dy[i] *= 1 - v*v
		}
	case actSigmoid:
		for i, v := range y {
			dy[i] *= v * (1 - v)
		}
	case actSoftmax:
		for r := 0; r+w <= len(y); r += w {
			yr, dr := y[r:r+w], dy[r:r+w]
			var s float32
			for j, v := range yr {
				s += v * dr[j]
			}
			for j, v := range yr {
				dr[j] = v * (dr[j] - s)
			}
		}
	}
}

// reluBackward zeroes dy where the ReLU output y is 0. ReLU outputs here
// are max(v, 0), so +0 or positive, and "y > 0" is "its bits are not 0":
// that gives a bit mask instead of a branch, which mispredicted often
// enough on real activations to cost 14% of a cnn training step.
func reluBackward(y, dy []float32) {
	dy = dy[:len(y)]
	for i, v := range y {
		m := uint32(int32(-math.Float32bits(v)) >> 31) // all ones unless v is +0
		dy[i] = math.Float32frombits(math.Float32bits(dy[i]) & m)
	}
}

func softmaxRow(z []float32) {
	m := float32(math.Inf(-1))
	for _, v := range z {
		if v > m {
			m = v
		}
	}
	var s float32
	for j, v := range z {
		e := exp32(v - m)
		z[j] = e
		s += e
	}
	inv := 1 / s
	for j := range z {
		z[j] *= inv
	}
}

// actLayer is relu/tanh/sigmoid/softmax as a layer of its own.
type actLayer struct {
	act   actKind
	name  string
	width int // last axis, for softmax
	y     []float32
}

func (l *actLayer) kind() string          { return l.name }
func (l *actLayer) params() []paramDef    { return nil }
func (l *actLayer) bind(_, _ [][]float32) {}
func (l *actLayer) forward(c *batchCtx, x []float32) []float32 {
	l.y = grow(l.y, len(x))
	copy(l.y, x)
	applyAct(l.act, l.y, l.width)
	return l.y
}
func (l *actLayer) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	actBackward(l.act, l.y, dy, l.width)
	return dy
}

// flatten only changes the shape, which the model tracks; data pass through.
type flatten struct{}

func (flatten) kind() string          { return "flatten" }
func (flatten) params() []paramDef    { return nil }
func (flatten) bind(_, _ [][]float32) {}
func (flatten) forward(c *batchCtx, x []float32) []float32 {
	return x
}
func (flatten) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 { return dy }

// dropout is inverted dropout: kept units are scaled by 1/(1-rate) while
// training, so inference is the identity.
type dropout struct {
	rate float32
	mask []float32
	y    []float32
}

func (l *dropout) kind() string          { return "dropout" }
func (l *dropout) params() []paramDef    { return nil }
func (l *dropout) bind(_, _ [][]float32) {}
func (l *dropout) forward(c *batchCtx, x []float32) []float32 {
	if !c.train || l.rate == 0 {
		return x
	}
	l.mask = grow(l.mask, len(x))
	l.y = grow(l.y, len(x))
	scale := 1 / (1 - l.rate)
	for i, v := range x {
		if c.rng.Float32() >= l.rate {
			l.mask[i] = scale
			l.y[i] = v * scale
		} else {
			l.mask[i] = 0
			l.y[i] = 0
		}
	}
	return l.y
}
func (l *dropout) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	if l.rate == 0 {
		return dy
	}
	for i, m := range l.mask[:len(x)] {
		dy[i] *= m
	}
	return dy
}

// sgemmFunc is the signature of gemm.Sgemm.
type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// sgemm is engine/gemm.Sgemm; a variable so that tests can swap in a
// reference product (to check that this package itself never allocates).
var sgemm sgemmFunc = gemm.Sgemm
