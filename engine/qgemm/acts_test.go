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
		buf := make([]uint8, n+16)
		for i := range buf {
			buf[i] = 0xa5
		}
		got := buf[:n]
		QuantizeTo(got, x, inv)
		for i, b := range buf[n:] {
			if b != 0xa5 {
				t.Fatalf("n=%d: byte %d past the codes was written", n, i)
			}
		}
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

// TestMaxPoolHWC checks the pool against a direct reading of its
// definition, and the AVX-512 row loop against the Go one bit for bit
// (signed zeros and ties included), on odd shapes and row strides.
func TestMaxPoolHWC(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	vals := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5}
	for trial := 0; trial < 300; trial++ {
		c := []int{1, 3, 16, 32, 48}[r.IntN(5)]
		pool, stride := 2, 2
		if trial%5 == 4 {
			pool, stride = 1+r.IntN(3), 1+r.IntN(3)
		}
		ho, wo := 1+r.IntN(7), 1+r.IntN(7)
		h, w := (ho-1)*stride+pool, (wo-1)*stride+pool
		ld := (w + r.IntN(3)) * c
		src := make([]float32, (h-1)*ld+w*c)
		for i := range src {
			if r.IntN(3) == 0 {
				src[i] = vals[r.IntN(len(vals))]
			} else {
				src[i] = r.Float32()*4 - 2
			}
		}
		got := make([]float32, ho*wo*c)
		gm := MaxPoolHWC(got, src, ld, c, pool, stride, ho, wo)
		saved := useAsmActs
		useAsmActs = false
		want := make([]float32, len(got))
		wm := MaxPoolHWC(want, src, ld, c, pool, stride, ho, wo)
		useAsmActs = saved
		if gm != wm {
			t.Fatalf("c=%d %dx%d: max %v, Go %v", c, ho, wo, gm, wm)
		}
		var m float32
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				for ch := 0; ch < c; ch++ {
					i := (oy*wo+ox)*c + ch
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("c=%d %dx%d pool %d/%d: value %d = %v, Go %v", c, ho, wo, pool, stride, i, got[i], want[i])
					}
					best := float32(math.Inf(-1))
					for ky := 0; ky < pool; ky++ {
						for kx := 0; kx < pool; kx++ {
							best = max(best, src[(oy*stride+ky)*ld+(ox*stride+kx)*c+ch])
						}
					}
					if got[i] != best {
						t.Fatalf("value %d = %v, the window's max is %v", i, got[i], best)
					}
					m = max(m, float32(math.Abs(float64(best))))
				}
			}
		}
		if gm != m {
			t.Fatalf("returned max %v, want %v", gm, m)
		}
	}
}
