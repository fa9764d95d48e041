package nn

import (
	"fmt"
	"math"
	"strings"

	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/par"
)

// Optimizer updates params in place from grads. Step's slices must have
// the length given to NewOptimizer. Reset forgets the state (moments, step).
type Optimizer interface {
	Step(params, grads []float32)
	Reset()
}

// OptimizerConfig chooses and tunes an optimizer. Zero fields take the
// PyTorch defaults: LR 0.01 for sgd and 1e-3 for adam/adamw, Beta1 0.9,
// Beta2 0.999, Eps 1e-8, and for adamw WeightDecay 0.01. For sgd and adam
// WeightDecay is an L2 term added to the gradient; for adamw it is
// decoupled (the weights shrink by lr·wd each step).
type OptimizerConfig struct {
	Name        string  `json:"name"`
	LR          float64 `json:"lr,omitempty"`
	Momentum    float64 `json:"momentum,omitempty"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Beta1       float64 `json:"beta1,omitempty"`
	Beta2       float64 `json:"beta2,omitempty"`
	Eps         float64 `json:"eps,omitempty"`
	Nesterov    bool    `json:"nesterov,omitempty"`
}

// OptimizerNames lists what NewOptimizer accepts.
func OptimizerNames() []string { return []string{"sgd", "adam", "adamw"} }

// NewOptimizer validates c and returns an optimizer for nParams parameters.
func NewOptimizer(c OptimizerConfig, nParams int) (Optimizer, error) {
	name := strings.ToLower(c.Name)
	fin := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !fin(c.LR) || c.LR < 0 {
		return nil, fmt.Errorf("optimizer: learning rate must be a finite number > 0, got %v", c.LR)
	}
	if !fin(c.WeightDecay) || c.WeightDecay < 0 {
		return nil, fmt.Errorf("optimizer: weight decay must be >= 0, got %v", c.WeightDecay)
	}
	if nParams < 0 {
		return nil, fmt.Errorf("optimizer: %d parameters", nParams)
	}
	switch name {
	case "sgd":
		if c.LR == 0 {
			c.LR = 0.01
		}
		if !fin(c.Momentum) || c.Momentum < 0 || c.Momentum >= 1 {
			return nil, fmt.Errorf("optimizer sgd: momentum must be in [0,1), got %v", c.Momentum)
		}
		if c.Nesterov && c.Momentum == 0 {
			return nil, fmt.Errorf("optimizer sgd: nesterov needs a momentum > 0")
		}
		o := &sgd{n: nParams, lr: float32(c.LR), mu: float32(c.Momentum), wd: float32(c.WeightDecay), nesterov: c.Nesterov}
		if c.Momentum > 0 {
			o.v = make([]float32, nParams)
		}
		return o, nil
	case "adam", "adamw":
		if c.Nesterov || c.Momentum != 0 {
			return nil, fmt.Errorf("optimizer %s: momentum/nesterov are sgd settings (adam uses beta1)", name)
		}
		if c.LR == 0 {
			c.LR = 1e-3
		}
		if c.Beta1 == 0 {
			c.Beta1 = 0.9
		}
		if c.Beta2 == 0 {
			c.Beta2 = 0.999
		}
		if c.Eps == 0 {
			c.Eps = 1e-8
		}
		if name == "adamw" && c.WeightDecay == 0 {
			c.WeightDecay = 0.01
		}
		if !fin(c.Beta1) || c.Beta1 < 0 || c.Beta1 >= 1 || !fin(c.Beta2) || c.Beta2 < 0 || c.Beta2 >= 1 {
			return nil, fmt.Errorf("optimizer %s: beta1 and beta2 must be in [0,1), got %v and %v", name, c.Beta1, c.Beta2)
		}
		if !fin(c.Eps) || c.Eps <= 0 {
			return nil, fmt.Errorf("optimizer %s: eps must be > 0, got %v", name, c.Eps)
		}
		return &adam{c: c, decoupled: name == "adamw", m: make([]float32, nParams), v: make([]float32, nParams)}, nil
	case "":
		return nil, fmt.Errorf("optimizer: name is missing (want sgd, adam or adamw)")
	}
	return nil, fmt.Errorf("optimizer: unknown %q (want sgd, adam or adamw)", c.Name)
}

func checkLens(n int, params, grads []float32) {
	if len(params) != n || len(grads) != n {
		panic(fmt.Sprintf("nn: optimizer for %d parameters got %d params and %d grads", n, len(params), len(grads)))
	}
}

// Optimizer state decays geometrically once a parameter's gradient is 0
// (an unused word's embedding, an always-black pixel's weights), and would
// sink into subnormal floats, which x86 handles in microcode at 10-100x the
// cost; Go cannot set flush-to-zero. So moments below these thresholds
// are set to 0 (a branch that is almost never taken). Likewise gradients
// below 1e-18, whose square would underflow (a nearly converged model has
// many). The effect on an update is below 1e-10 of the learning rate.
const (
	flushGrad   = 1e-18 // gradient whose square is below float32's normal range
	flushMoment = 1e-30 // first moment / momentum buffer (gradient scale)
	flushSecond = 1e-37 // second moment (gradient² scale), above 1.18e-38
)

// abs32 clears the sign bit. One compare of |x| (not x < t && x > -t,
// whose first half is a coin flip on gradients) keeps the flush branches
// predictable: that difference measured 3.5x on a whole Adam step.
func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func flushM(x float32) float32 {
	if abs32(x) < flushMoment {
		return 0
	}
	return x
}

func flushG(x float32) float32 {
	if abs32(x) < flushGrad {
		return 0
	}
	return x
}

func flushV(x float32) float32 {
	if x < flushSecond {
		return 0
	}
	return x
}

// sgd follows torch.optim.SGD: v = mu·v + g; p -= lr·(g + mu·v) with
// Nesterov, else p -= lr·v.
type sgd struct {
	n          int
	lr, mu, wd float32
	nesterov   bool
	v          []float32
}

func (o *sgd) Reset() { clear(o.v) }

func (o *sgd) Step(params, grads []float32) {
	checkLens(o.n, params, grads)
	if o.v == nil {
		grads = grads[:len(params)]
		for i, g := range grads {
			params[i] -= o.lr * (g + o.wd*params[i])
		}
		return
	}
	v := o.v
	grads = grads[:len(v)]
	params = params[:len(v)]
	for i, g := range grads {
		g += o.wd * params[i]
		vi := flushM(o.mu*v[i] + g)
		v[i] = vi
		if o.nesterov {
			params[i] -= o.lr * (g + o.mu*vi)
		} else {
			params[i] -= o.lr * vi
		}
	}
}

// adam follows torch.optim.Adam / AdamW (non-amsgrad):
// p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps).
type adam struct {
	c          OptimizerConfig
	decoupled  bool
	t          int
	m, v       []float32
	step       float32 // lr / bias correction 1, for this step
	invSqrtBC2 float32
	split      rangeSplit
}

func (o *adam) Reset() {
	o.t = 0
	clear(o.m)
	clear(o.v)
}

func (o *adam) Step(params, grads []float32) {
	checkLens(len(o.m), params, grads)
	o.t++
	bc1 := 1 - math.Pow(o.c.Beta1, float64(o.t))
	bc2 := 1 - math.Pow(o.c.Beta2, float64(o.t))
	o.step = float32(o.c.LR / bc1)
	o.invSqrtBC2 = float32(1 / math.Sqrt(bc2))
	parallelRange(o, &o.split, params, grads)
}

func (o *adam) stepRange(params, grads []float32, lo, hi int) {
	b1, b2 := float32(o.c.Beta1), float32(o.c.Beta2)
	step, invSqrtBC2 := o.step, o.invSqrtBC2
	eps := float32(o.c.Eps)
	wd := float32(o.c.WeightDecay)
	shrink := float32(1 - o.c.LR*o.c.WeightDecay)
	m, v := o.m[lo:hi], o.v[lo:hi]
	params = params[lo:hi]
	grads = grads[lo:hi]
	m = m[:len(grads)]
	v = v[:len(grads)]
	params = params[:len(grads)]
	switch {
	case o.decoupled:
		for i, g := range grads {
			g = flushG(g)
			p := params[i] * shrink
			mi := b1*m[i] + (1-b1)*g
			vi := b2*v[i] + (1-b2)*g*g
			mi, vi = flushM(mi), flushV(vi)
			m[i], v[i] = mi, vi
			params[i] = p - step*mi/(sqrt32(vi)*invSqrtBC2+eps)
		}
	case wd != 0:
		for i, g := range grads {
			g = flushG(g) + wd*params[i]
			mi := b1*m[i] + (1-b1)*g
			vi := b2*v[i] + (1-b2)*g*g
			mi, vi = flushM(mi), flushV(vi)
			m[i], v[i] = mi, vi
			params[i] -= step * mi / (sqrt32(vi)*invSqrtBC2 + eps)
		}
	default:
		// The AVX2 kernel evaluates the loop below in the same order and
		// without FMAs, so it gives the same bits (TestAdamAVX2MatchesGo)
		// 5-7x faster: Go does not vectorise the divide and square root.
		// AVX-512 (the same bits again) takes the 16-lane blocks where the
		// core has it (TestAdamAVX512MatchesAVX2).
		if haveAVX2 && len(grads) >= 8 {
			c := [10]float32{b1, 1 - b1, b2, 1 - b2, step, invSqrtBC2, eps, flushGrad, flushMoment, flushSecond}
			if haveAVX512 && len(grads) >= 16 {
				k := len(grads) &^ 15
				adamAVX512(&params[0], &grads[0], &m[0], &v[0], k, &c)
				params, grads, m, v = params[k:], grads[k:], m[k:], v[k:]
			}
			if k := len(grads) &^ 7; k > 0 {
				adamAVX2(&params[0], &grads[0], &m[0], &v[0], k, &c)
				params, grads, m, v = params[k:], grads[k:], m[k:], v[k:]
			}
		}
		for i, g := range grads {
			g = flushG(g)
			mi := b1*m[i] + (1-b1)*g
			vi := b2*v[i] + (1-b2)*g*g
			mi, vi = flushM(mi), flushV(vi)
			m[i], v[i] = mi, vi
			params[i] -= step * mi / (sqrt32(vi)*invSqrtBC2 + eps)
		}
	}
}

// rangeStepper is an optimizer whose update is element-wise, so that a
// step can be split into ranges across threads with identical results.
type rangeStepper interface {
	stepRange(params, grads []float32, lo, hi int)
}

// rangeSplit is one optimizer step cut into ranges of the parameters, one
// per part of an engine/par team.
type rangeSplit struct {
	o             rangeStepper
	params, grads []float32
}

// RunPart steps part i of n (par.Range: whole cache lines each).
func (r *rangeSplit) RunPart(i, n int) {
	lo, hi := par.Range(i, n, len(r.params))
	r.o.stepRange(r.params, r.grads, lo, hi)
}

// minParallelParams: below this a step is a few microseconds and splitting
// it does not pay.
const minParallelParams = 1 << 14

// parallelRange runs o.stepRange over all parameters, split across
// gemm.Threads() goroutines (the --threads setting) when there are enough
// of them. r is the optimizer's own rangeSplit, so a step does not allocate.
func parallelRange(o rangeStepper, r *rangeSplit, params, grads []float32) {
	n := len(params)
	t := min(gemm.Threads(), n/(minParallelParams/2))
	if t <= 1 {
		o.stepRange(params, grads, 0, n)
		return
	}
	*r = rangeSplit{o: o, params: params, grads: grads}
	par.Do(t, r)
	*r = rangeSplit{} // drop references to the caller's slices
}
