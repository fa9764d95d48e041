package qgemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestActsAsmMatchGo runs the quantizer with and without the AVX-512
// loops on odd lengths and compares the codes and maxima exactly.
func TestActsAsmMatchGo(t *testing.T) {
	if !useAsmActs {
		t.Skip("no AVX-512 activation loops on this machine")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(300)
		x := make([]float32, n)
		for i := range x {
			x[i] = (r.Float32() - 0.5) * float32(math.Pow(10, float64(r.IntN(5)-2)))
		}
		if trial%7 == 0 {
			x[r.IntN(n)] = 0.5 / (float32(r.IntN(3)) + 1) // a tie for round-to-even
		}
		_, inv := RowScale(MaxAbs(x))
		got := make([]uint8, n)
		QuantizeTo(got, x, inv)
		gm := MaxAbs(x)
		useAsmActs = false
		want := make([]uint8, n)
		QuantizeTo(want, x, inv)
		wm := MaxAbs(x)
		useAsmActs = true
		if gm != wm {
			t.Fatalf("n=%d: max %v, Go %v", n, gm, wm)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("n=%d: code %d = %d, Go %d (x=%v inv=%v)", n, i, got[i], want[i], x[i], inv)
			}
		}
	}
}

func TestQuantizeRows(t *testing.T) {
	src := []float32{-2, 1, 0, 0.5, 9, 0, 0, 0, 0, 0}
	dst := make([]uint8, 2*8)
	as := make([]float32, 2)
	QuantizeRows(dst, 8, src, 5, 2, 5, as)
	l, sh := Levels(), Shift()
	if as[0] != 9/float32(l) || as[1] != 0 {
		t.Fatalf("scales %v", as)
	}
	if int32(dst[4])-sh != l || int32(dst[0])-sh >= 0 || dst[5] != uint8(sh) || dst[7] != uint8(sh) || dst[8] != uint8(sh) {
		t.Fatalf("codes %v", dst)
	}
	// Dequantized codes are within half a step of the values.
	for j := 0; j < 5; j++ {
		v := float32(int32(dst[j])-sh) * as[0]
		if d := math.Abs(float64(v - src[j])); d > float64(as[0])/2+1e-6 {
			t.Errorf("value %d: %v back as %v", j, src[j], v)
		}
	}
}

func FuzzQuantizeTo(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 200, 0, 0, 128}, float32(3))
	f.Fuzz(func(t *testing.T, b []byte, inv float32) {
		x := make([]float32, len(b)/4)
		for i := range x {
			x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			if x[i] != x[i] || math.IsInf(float64(x[i]), 0) {
				x[i] = 1
			}
		}
		got := make([]uint8, len(x))
		QuantizeTo(got, x, inv) // must not panic, whatever the values
		if !useAsmActs || inv != inv {
			return
		}
		gm := MaxAbs(x)
		useAsmActs = false
		want := make([]uint8, len(x))
		QuantizeTo(want, x, inv)
		wm := MaxAbs(x)
		useAsmActs = true
		if gm != wm {
			t.Fatalf("max %v, Go %v", gm, wm)
		}
		for i := range got {
			if got[i] != want[i] && !math.IsInf(float64(x[i]*inv), 0) {
				t.Fatalf("code %d = %d, Go %d (x=%v inv=%v)", i, got[i], want[i], x[i], inv)
			}
		}
	})
}
