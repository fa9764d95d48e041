package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
)

// benchTrain measures one TrainBatch plus an Adam step on random data of
// the preset's shape; b.ReportAllocs shows that steady state allocates 0.
func benchTrain(b *testing.B, s Spec, n, vocab int) {
	m := mustBuild(b, s, 1)
	o := mustOpt(b, OptimizerConfig{Name: "adam"}, m.NumParams())
	r := rand.New(rand.NewPCG(5, 6))
	x := randData(r, n, m.InputSize(), vocab)
	if vocab > 0 {
		// Post-padded sequences of mixed lengths, as real text.
		steps := m.InputSize()
		for i := 0; i < n; i++ {
			l := 1 + r.IntN(steps)
			for t := l; t < steps; t++ {
				x[i*steps+t] = 0
			}
		}
	}
	y := make([]float32, n)
	k := max(m.OutputSize(), 2)
	for i := range y {
		y[i] = float32(r.IntN(k))
	}
	m.TrainBatch(x, y, n) // grow buffers
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.TrainBatch(x, y, n)
		o.Step(m.Params(), m.Grads())
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkTrainBatchMLP64(b *testing.B) {
	benchTrain(b, mustPreset(b, "mlp", PresetOptions{}), 64, 0)
}

// BenchmarkTrainBatchMLP64Threads2 is the mlp step with --threads 2
// (GEMM and the optimizer split in two).
func BenchmarkTrainBatchMLP64Threads2(b *testing.B) {
	saved := gemm.Threads()
	gemm.SetThreads(2)
	defer gemm.SetThreads(saved)
	benchTrain(b, mustPreset(b, "mlp", PresetOptions{}), 64, 0)
}

func BenchmarkTrainBatchLSTM32(b *testing.B) {
	benchTrain(b, mustPreset(b, "lstm-text", PresetOptions{Vocab: 10000, MaxLen: 50}), 32, 10000)
}

func BenchmarkTrainBatchCNN64(b *testing.B) {
	benchTrain(b, mustPreset(b, "cnn", PresetOptions{}), 64, 0)
}

func BenchmarkForwardMLP256(b *testing.B) {
	m := mustBuild(b, mustPreset(b, "mlp", PresetOptions{}), 1)
	x := randData(rand.New(rand.NewPCG(5, 6)), 256, 784, 0)
	m.Forward(x, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Forward(x, 256)
	}
}

// BenchmarkAdamStep is one Adam step over the mlp's 101,770 parameters.
func BenchmarkAdamStep(b *testing.B) {
	const n = 101770
	o := mustOpt(b, OptimizerConfig{Name: "adam"}, n)
	r := rand.New(rand.NewPCG(1, 1))
	p, g := uniform(r, n), uniform(r, n)
	b.ReportAllocs()
	for b.Loop() {
		o.Step(p, g)
	}
}
