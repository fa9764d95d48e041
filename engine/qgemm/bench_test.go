package qgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// BenchmarkGemm compares each kernel set with engine/gemm's float32
// product on the layer shapes of the MNIST mlp and cnn (m×n×k), including
// the quantization of the float activations that an int8 layer pays.
func BenchmarkGemm(b *testing.B) {
	shapes := [][3]int{{1, 128, 784}, {64, 128, 784}, {64, 128, 1568}, {196, 32, 144}}
	r := rand.New(rand.NewPCG(1, 1))
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		x := make([]float32, m*k)
		for i := range x {
			x[i] = r.Float32()
		}
		wf := make([]float32, k*n)
		c := make([]float32, m*n)
		b.Run(fmt.Sprintf("%dx%dx%d/float32", m, n, k), func(b *testing.B) {
			for b.Loop() {
				gemm.Sgemm(false, false, m, n, k, 1, x, k, wf, n, 0, c, n)
			}
		})
		for _, ks := range available() {
			o := newOperands(r, 1, n, k, ks.levels, ks.shift)
			w, _ := Pack(k, n, o.w, n, 1, o.ws, o.bias)
			kp := w.KPadded()
			a := make([]uint8, m*kp)
			as := make([]float32, m)
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, n, k, ks.name), func(b *testing.B) {
				saved := impl
				impl = ks
				defer func() { impl = saved }()
				for b.Loop() {
					QuantizeRows(a, kp, x, k, m, k, as)
					Gemm(m, a, kp, as, w, c, n, ReLU)
				}
			})
		}
	}
}
