package nn

import (
	"math"
	"testing"
)

func TestExp32(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x < 88; x += 0.00731 {
		got := float64(exp32(x))
		want := math.Exp(float64(x))
		if rel := math.Abs(got-want) / want; rel > worst {
			worst = rel
		}
	}
	if worst > 4e-7 {
		t.Fatalf("exp32 worst relative error %.3g", worst)
	}
	if exp32(-100) > 1e-37 || exp32(100) < 1e38 || !math.IsNaN(float64(exp32(float32(math.NaN())))) {
		t.Fatal("exp32 edge cases")
	}
	for _, x := range []float32{-50, -9, -1, -1e-3, 0, 1e-5, 0.5, 3, 9, 40} {
		if d := math.Abs(float64(tanh32(x)) - math.Tanh(float64(x))); d > 2e-7 {
			t.Errorf("tanh32(%v) off by %.3g", x, d)
		}
		if d := math.Abs(float64(sigmoid32(x)) - 1/(1+math.Exp(-float64(x)))); d > 3e-7 {
			t.Errorf("sigmoid32(%v) off by %.3g", x, d)
		}
	}
}

var expIn, expOut = func() ([]float32, []float32) {
	in := make([]float32, 1024)
	for i := range in {
		in[i] = float32(i)/100 - 5
	}
	return in, make([]float32, 1024)
}()

func BenchmarkExp32(b *testing.B) {
	for b.Loop() {
		for i, v := range expIn {
			expOut[i] = exp32(v)
		}
	}
}

func BenchmarkExpMath(b *testing.B) {
	for b.Loop() {
		for i, v := range expIn {
			expOut[i] = float32(math.Exp(float64(v)))
		}
	}
}

func BenchmarkSigmoid32(b *testing.B) {
	for b.Loop() {
		for i, v := range expIn {
			expOut[i] = sigmoid32(v)
		}
	}
}
