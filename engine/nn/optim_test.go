package nn

import (
	"math"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// refOptimizer is torch.optim's update rule written out in float64.
func refOptimizer(c OptimizerConfig, p []float64, grads [][]float64) []float64 {
	p = append([]float64(nil), p...)
	v := make([]float64, len(p))
	m := make([]float64, len(p))
	for t, g0 := range grads {
		step := float64(t + 1)
		for i := range p {
			g := g0[i]
			switch c.Name {
			case "sgd":
				g += c.WeightDecay * p[i]
				if c.Momentum == 0 {
					p[i] -= c.LR * g
					continue
				}
				if t == 0 {
					v[i] = g // torch initialises the buffer with g; mu·0+g is the same
				} else {
					v[i] = c.Momentum*v[i] + g
				}
				if c.Nesterov {
					p[i] -= c.LR * (g + c.Momentum*v[i])
				} else {
					p[i] -= c.LR * v[i]
				}
			case "adam", "adamw":
				if c.Name == "adamw" {
					p[i] *= 1 - c.LR*c.WeightDecay
				} else {
					g += c.WeightDecay * p[i]
				}
				m[i] = c.Beta1*m[i] + (1-c.Beta1)*g
				v[i] = c.Beta2*v[i] + (1-c.Beta2)*g*g
				bc1 := 1 - math.Pow(c.Beta1, step)
				bc2 := 1 - math.Pow(c.Beta2, step)
				p[i] -= c.LR / bc1 * m[i] / (math.Sqrt(v[i])/math.Sqrt(bc2) + c.Eps)
			}
		}
	}
	return p
}

func TestOptimizersMatchTorchRules(t *testing.T) {
	cases := []OptimizerConfig{
		{Name: "sgd", LR: 0.1},
		{Name: "sgd", LR: 0.1, WeightDecay: 0.01},
		{Name: "sgd", LR: 0.05, Momentum: 0.9},
		{Name: "sgd", LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3},
		{Name: "adam", LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{Name: "adam", LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1},
		{Name: "adamw", LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05},
	}
	p0 := []float64{0.5, -1.25, 2, 0, 1e-3}
	grads := [][]float64{{0.1, -0.2, 0.3, 0, 5}, {0.05, 0.2, -0.1, 1e-4, -5}, {-0.3, 0.1, 0.2, 0, 0.5}}
	for _, c := range cases {
		o := mustOpt(t, c, len(p0))
		p := make([]float32, len(p0))
		for i, v := range p0 {
			p[i] = float32(v)
		}
		for _, g := range grads {
			g32 := make([]float32, len(g))
			for i, v := range g {
				g32[i] = float32(v)
			}
			o.Step(p, g32)
		}
		want := refOptimizer(c, p0, grads)
		for i := range p {
			if math.Abs(float64(p[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Errorf("%+v: param %d = %v, want %v", c, i, p[i], want[i])
			}
		}
		// Reset forgets the state: the same steps again give the same result.
		o.Reset()
		q := make([]float32, len(p0))
		for i, v := range p0 {
			q[i] = float32(v)
		}
		for _, g := range grads {
			g32 := make([]float32, len(g))
			for i, v := range g {
				g32[i] = float32(v)
			}
			o.Step(q, g32)
		}
		for i := range q {
			if q[i] != p[i] {
				t.Errorf("%+v: after Reset param %d = %v, first run %v", c, i, q[i], p[i])
			}
		}
	}
}

func TestOptimizerDefaultsAndErrors(t *testing.T) {
	o := mustOpt(t, OptimizerConfig{Name: "AdamW"}, 3).(*adam)
	if o.c.LR != 1e-3 || o.c.Beta1 != 0.9 || o.c.Beta2 != 0.999 || o.c.Eps != 1e-8 || o.c.WeightDecay != 0.01 || !o.decoupled {
		t.Fatalf("adamw defaults %+v", o.c)
	}
	bad := []struct {
		c    OptimizerConfig
		want string
	}{
		{OptimizerConfig{}, "name is missing"},
		{OptimizerConfig{Name: "rmsprop"}, `unknown "rmsprop"`},
		{OptimizerConfig{Name: "sgd", LR: -1}, "learning rate"},
		{OptimizerConfig{Name: "sgd", LR: math.NaN()}, "learning rate"},
		{OptimizerConfig{Name: "sgd", Momentum: 1}, "momentum"},
		{OptimizerConfig{Name: "sgd", Nesterov: true}, "nesterov needs"},
		{OptimizerConfig{Name: "adam", Beta1: 1}, "beta1"},
		{OptimizerConfig{Name: "adam", Eps: -1}, "eps"},
		{OptimizerConfig{Name: "adam", Momentum: 0.9}, "sgd settings"},
		{OptimizerConfig{Name: "adamw", WeightDecay: -0.1}, "weight decay"},
	}
	for _, b := range bad {
		if _, err := NewOptimizer(b.c, 3); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want %q", b.c, err, b.want)
		}
	}
}

// TestAdamThreadsSameBits: a step split across threads gives the same
// bits as one thread (the update is element-wise), and allocates nothing.
func TestAdamThreadsSameBits(t *testing.T) {
	const n = 100003 // not a multiple of anything
	mk := func() ([]float32, []float32) {
		p, g := make([]float32, n), make([]float32, n)
		for i := range p {
			p[i] = float32(i%101) * 0.01
			g[i] = float32(i%37)*0.003 - 0.05
		}
		return p, g
	}
	run := func(threads int) []float32 {
		saved := gemm.Threads()
		gemm.SetThreads(threads)
		defer gemm.SetThreads(saved)
		o := mustOpt(t, OptimizerConfig{Name: "adamw"}, n)
		p, g := mk()
		for range 3 {
			o.Step(p, g)
		}
		if a := testing.AllocsPerRun(5, func() { o.Step(p, g) }); a != 0 {
			t.Errorf("%d threads: %v allocations per step", threads, a)
		}
		return p
	}
	one, three := run(1), run(3)
	for i := range one {
		if math.Float32bits(one[i]) != math.Float32bits(three[i]) {
			t.Fatalf("param %d: %v with 1 thread, %v with 3", i, one[i], three[i])
		}
	}
}
