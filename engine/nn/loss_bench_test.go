package nn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSoftmaxCE64x10 is the mlp's loss at batch 64: 640 logits, with
// gradients.
func BenchmarkSoftmaxCE64x10(b *testing.B) {
	const n, k = 64, 10
	r := rand.New(rand.NewPCG(3, 4))
	logits := uniform(r, n*k)
	y := make([]float32, n)
	for i := range y {
		y[i] = float32(r.IntN(k))
	}
	grad := make([]float32, n*k)
	b.ReportAllocs()
	for b.Loop() {
		softmaxCE(logits, y, n, k, grad)
	}
}
