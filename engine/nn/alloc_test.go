package nn

import (
	"math/rand/v2"
	"testing"
)

// refSgemm is a plain triple loop that allocates nothing, so that
// TestNoAllocsPerStep measures this package alone, whatever gemm does.
func refSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

func TestNoAllocsPerStep(t *testing.T) {
	saved := sgemm
	sgemm = refSgemm
	defer func() { sgemm = saved }()
	specs := map[string]Spec{
		"mlp":       mustPreset(t, "mlp", PresetOptions{}),
		"lstm-text": mustPreset(t, "lstm-text", PresetOptions{Vocab: 40, MaxLen: 10}),
		"cnn-small": {Input: []int{1, 8, 8}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 2, Kernel: 3, Pad: 1, Activation: "relu"}, {Type: "maxpool2d", Pool: 2},
			{Type: "conv2d", Filters: 2, Kernel: 3, Stride: 2, Activation: "tanh"}, {Type: "flatten"},
			{Type: "dropout", Rate: 0.2}, {Type: "dense", Units: 3, Activation: "softmax"}}},
		"lstm-seq": {Input: []int{5}, Layers: []LayerSpec{{Type: "embedding", Vocab: 9, Dim: 2},
			{Type: "lstm", Units: 3, ReturnSequences: true}, {Type: "lstm", Units: 2}, {Type: "softmax"}, {Type: "dense", Units: 1}}},
	}
	for name, s := range specs {
		t.Run(name, func(t *testing.T) {
			m := mustBuild(t, s, 1)
			o := mustOpt(t, OptimizerConfig{Name: "adamw"}, m.NumParams())
			r := rand.New(rand.NewPCG(1, 1))
			n := 4
			vocab := 0
			if s.Layers[0].Type == "embedding" {
				vocab = s.Layers[0].Vocab
			}
			x := randData(r, n, m.InputSize(), vocab)
			y := []float32{0, 1, 1, 0}
			m.TrainBatch(x, y, n) // first call sizes the buffers
			m.Forward(x, n)
			if a := testing.AllocsPerRun(20, func() {
				m.TrainBatch(x, y, n)
				o.Step(m.Params(), m.Grads())
				m.TrainBatch(x, y, n-1) // a smaller last batch reuses the buffers
				m.Forward(x, n)
			}); a != 0 {
				t.Fatalf("%v allocations per step", a)
			}
		})
	}
}
