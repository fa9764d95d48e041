package quant

import (
	"math"
	"testing"
)

func TestRound(t *testing.T) {
	for _, c := range []struct {
		v, s float32
		want int8
	}{
		{0, 1, 0}, {1, 1, 1}, {0.5, 1, 1}, {-0.5, 1, -1}, {0.49, 1, 0},
		{127, 1, 127}, {1000, 1, 127}, {-1000, 1, -127}, {5, 0, 0},
		{5, float32(math.NaN()), 0}, {5, float32(math.Inf(1)), 0}, {5, -1, 0},
	} {
		if got := Round(c.v, c.s); got != c.want {
			t.Errorf("Round(%v, %v) = %d, want %d", c.v, c.s, got, c.want)
		}
	}
}

func TestSymmetric(t *testing.T) {
	x := []float32{-2, 1, 0.5, 0}
	q := make([]int8, 4)
	s := Symmetric(q, x)
	if s != 2.0/127 || q[0] != -127 || q[1] != 64 || q[3] != 0 {
		t.Fatalf("scale %v codes %v", s, q)
	}
	if s := Symmetric(q, []float32{1, float32(math.Inf(-1))}); s == s {
		t.Fatalf("scale %v for an infinity, want NaN", s)
	}
	if s := Symmetric(q, []float32{0, 0}); s != 0 || q[0] != 0 {
		t.Fatalf("all zero: scale %v codes %v", s, q)
	}
}

func TestPerChannel(t *testing.T) {
	// 2×3, column 2 much smaller than the others.
	w := []float32{1, -4, 0.01, -0.5, 2, -0.02}
	q, s, err := PerColumn(w, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s[0] != 1.0/127 || s[1] != 4.0/127 || s[2] != float32(0.02)/127 {
		t.Fatalf("column scales %v", s)
	}
	if q[5] != -127 || q[0] != 127 || q[2] < 63 || q[2] > 64 {
		t.Fatalf("codes %v", q)
	}
	q, s, err = PerRow(w, 2, 3)
	if err != nil || s[0] != 4.0/127 || q[1] != -127 || q[4] != 127 {
		t.Fatalf("rows: codes %v scales %v err %v", q, s, err)
	}
	for _, f := range []func([]float32, int, int) ([]int8, []float32, error){PerColumn, PerRow} {
		if _, _, err := f(w, 4, 3); err == nil {
			t.Error("wrong shape accepted")
		}
		if _, _, err := f([]float32{1, float32(math.NaN())}, 1, 2); err == nil {
			t.Error("NaN accepted")
		}
	}
	// Error bound: |w - q·s| <= s/2 for every element.
	for i, v := range w {
		j := i % 3
		qc, sc, _ := PerColumn(w, 2, 3)
		if d := math.Abs(float64(v - float32(qc[i])*sc[j])); d > float64(sc[j])/2*1.0001 {
			t.Errorf("element %d off by %g, scale %g", i, d, sc[j])
		}
	}
}
