package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkForwardLSTMText is lstm-text's inference forward pass (vocab
// 10,000, embedding 32, LSTM 32, T = 50) on full-length sequences, the
// shapes ONNX Runtime runs in ../shared/peers/onnx_export.py's
// lstm-text.onnx, at the batch sizes of issue 14's table.
func BenchmarkForwardLSTMText(b *testing.B) {
	for _, n := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("batch%d", n), func(b *testing.B) {
			m := mustBuild(b, mustPreset(b, "lstm-text", PresetOptions{Vocab: 10000, MaxLen: 50}), 1)
			r := rand.New(rand.NewPCG(5, 6))
			x := make([]float32, n*50)
			for i := range x {
				x[i] = float32(1 + r.IntN(9999))
			}
			m.Forward(x, n)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				m.Forward(x, n)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/batch")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "us/batch")
		})
	}
}
