package qgemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// operands makes a random m×k activation matrix (codes within the set's
// range), k×n weights in [-127, 127], scales and bias.
type operands struct {
	m, n, k, lda int
	a            []uint8
	as           []float32
	w            []int8
	ws, bias     []float32
}

func newOperands(r *rand.Rand, m, n, k int, levels, shift int32) operands {
	o := operands{m: m, n: n, k: k, lda: (k+3)&^3 + r.IntN(3)*4}
	o.a = make([]uint8, m*o.lda)
	for i := range o.a {
		o.a[i] = uint8(int32(r.IntN(int(2*levels+1))) - levels + shift)
	}
	o.as = make([]float32, m)
	for i := range o.as {
		o.as[i] = r.Float32() / 100
	}
	o.w = make([]int8, k*n)
	for i := range o.w {
		o.w[i] = int8(r.IntN(255) - 127)
	}
	o.ws = make([]float32, n)
	o.bias = make([]float32, n)
	for j := range o.ws {
		o.ws[j] = r.Float32() / 50
		o.bias[j] = r.Float32() - 0.5
	}
	return o
}

// check runs kernel set ks on o and compares with Reference bit for bit.
func check(t *testing.T, ks kernelSet, o operands, f Flags) {
	t.Helper()
	w, err := Pack(o.k, o.n, o.w, o.n, 1, o.ws, o.bias)
	if err != nil {
		t.Fatal(err)
	}
	ldc := o.n + 3
	got := make([]float32, o.m*ldc)
	want := make([]float32, o.m*ldc)
	for i := range got {
		got[i] = float32(i%7) - 3 // Accumulate reads these; others must stay
		want[i] = got[i]
	}
	Reference(o.m, o.n, o.k, o.a, o.lda, ks.shift, o.as, o.w, o.ws, o.bias, want, ldc, f)
	offs := []int{0}
	run(ks, o.m, o.a, o.lda, offs, w.kp/4, o.as, w, got, ldc, f)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s m=%d n=%d k=%d flags=%d: element %d (row %d col %d) = %v, want %v",
				ks.name, o.m, o.n, o.k, f, i, i/ldc, i%ldc, got[i], want[i])
		}
	}
}

func TestKernelsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dims := []int{1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31, 33, 64, 65, 130}
	for _, ks := range available() {
		t.Run(ks.name, func(t *testing.T) {
			for trial := 0; trial < 150; trial++ {
				m := dims[r.IntN(len(dims))]
				n := dims[r.IntN(len(dims))]
				k := dims[r.IntN(len(dims))]
				check(t, ks, newOperands(r, m, n, k, ks.levels, ks.shift), Flags(trial%4))
			}
			// The layer shapes of the presets.
			for _, s := range [][3]int{{1, 128, 784}, {64, 10, 128}, {50, 128, 32}, {6, 128, 1568}} {
				check(t, ks, newOperands(r, s[0], s[1], s[2], ks.levels, ks.shift), ReLU)
			}
		})
	}
}

// TestIntegersExact checks the int32 sums themselves: with unit scales and
// no bias the output is float32(acc), exact below 2^24, so extreme codes
// (all ±127 weights against the largest activations) must come out as
// the integer the reference loop computes.
func TestIntegersExact(t *testing.T) {
	for _, ks := range available() {
		for _, sign := range []int8{127, -127} {
			k, n, m := 67, 19, 5
			a := make([]uint8, m*68)
			for i := range a {
				a[i] = uint8(ks.levels + ks.shift)
			}
			wq := make([]int8, k*n)
			for i := range wq {
				wq[i] = sign
			}
			ones := make([]float32, max(m, n))
			for i := range ones {
				ones[i] = 1
			}
			w, _ := Pack(k, n, wq, n, 1, ones[:n], nil)
			c := make([]float32, m*n)
			run(ks, m, a, 68, []int{0}, w.kp/4, ones, w, c, n, 0)
			want := float32(int32(k) * ks.levels * int32(sign))
			for i, v := range c {
				if v != want {
					t.Fatalf("%s: element %d = %v, want %v", ks.name, i, v, want)
				}
			}
		}
	}
}

// TestTaps checks GemmTaps against a Gemm over the gathered rows.
func TestTaps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, ks := range available() {
		for trial := 0; trial < 40; trial++ {
			taps := 1 + r.IntN(9)
			seg := 4 * (1 + r.IntN(5))
			m, n := 1+r.IntN(20), 1+r.IntN(40)
			lda := seg + r.IntN(3)
			img := make([]uint8, 4096)
			for i := range img {
				img[i] = uint8(int32(r.IntN(int(2*ks.levels+1))) - ks.levels + ks.shift)
			}
			offs := make([]int, taps)
			for i := range offs {
				offs[i] = r.IntN(len(img) - (m-1)*lda - seg)
			}
			// Gathered: row i = the taps' segments one after another.
			g := make([]uint8, m*taps*seg)
			for i := 0; i < m; i++ {
				for ti, o := range offs {
					copy(g[(i*taps+ti)*seg:], img[o+i*lda:o+i*lda+seg])
				}
			}
			o := newOperands(r, m, n, taps*seg, ks.levels, ks.shift)
			w, _ := Pack(o.k, o.n, o.w, o.n, 1, o.ws, o.bias)
			got := make([]float32, m*n)
			want := make([]float32, m*n)
			run(ks, m, img, lda, offs, seg/4, o.as, w, got, n, ReLU)
			Reference(m, n, o.k, g, taps*seg, ks.shift, o.as, o.w, o.ws, o.bias, want, n, ReLU)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s taps=%d seg=%d m=%d n=%d: element %d = %v, want %v", ks.name, taps, seg, m, n, i, got[i], want[i])
				}
			}
		}
	}
}

func TestPackRejects(t *testing.T) {
	s := []float32{1, 1}
	for _, c := range []struct {
		k, n   int
		w      []int8
		rs, cs int
		scale  []float32
	}{
		{0, 2, make([]int8, 4), 2, 1, s},
		{2, 2, make([]int8, 3), 2, 1, s},
		{2, 2, make([]int8, 4), 2, 1, s[:1]},
		{MaxK + 1, 1, make([]int8, MaxK+1), 1, 1, s[:1]},
		{2, 2, make([]int8, 4), -1, 1, s},
	} {
		if _, err := Pack(c.k, c.n, c.w, c.rs, c.cs, c.scale, nil); err == nil {
			t.Errorf("Pack(%d, %d, %d values) accepted", c.k, c.n, len(c.w))
		}
	}
}

func TestGemmPanicsOnShortSlices(t *testing.T) {
	w, _ := Pack(8, 4, make([]int8, 32), 4, 1, make([]float32, 4), nil)
	for i, f := range []func(){
		func() { Gemm(2, make([]uint8, 8), 8, make([]float32, 2), w, make([]float32, 8), 4, 0) },
		func() { Gemm(2, make([]uint8, 16), 8, make([]float32, 1), w, make([]float32, 8), 4, 0) },
		func() { Gemm(2, make([]uint8, 16), 8, make([]float32, 2), w, make([]float32, 7), 4, 0) },
		func() {
			GemmTaps(1, make([]uint8, 16), 4, []int{0, 0, 0}, make([]float32, 1), w, make([]float32, 4), 4, 0)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("case %d did not panic", i)
				}
			}()
			f()
		}()
	}
}

func FuzzKernels(f *testing.F) {
	f.Add(uint8(3), uint8(17), uint8(9), uint8(1), []byte{1, 2, 3, 250, 7})
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed []byte) {
		mm, nn, kk := int(m%40)+1, int(n%70)+1, int(k%200)+1
		var s uint64
		for _, b := range seed {
			s = s*131 + uint64(b)
		}
		r := rand.New(rand.NewPCG(s, uint64(len(seed))))
		for _, ks := range available() {
			check(t, ks, newOperands(r, mm, nn, kk, ks.levels, ks.shift), Flags(flags%4))
		}
	})
}

func ExampleKernel() {
	fmt.Println(Kernel() != "")
	// Output: true
}
