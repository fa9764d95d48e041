package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkForwardCNN is the cnn's inference pass (Model.Forward, the
// path serving and bench-infer time) at the batch sizes bench-infer uses.
func BenchmarkForwardCNN(b *testing.B) {
	m := mustBuild(b, mustPreset(b, "cnn", PresetOptions{}), 1)
	for _, n := range []int{1, 64, 256} {
		b.Run(fmt.Sprint("b", n), func(b *testing.B) {
			x := randData(rand.New(rand.NewPCG(5, 6)), n, m.InputSize(), 0)
			m.Forward(x, n)
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cpuTime()
			for b.Loop() {
				m.Forward(x, n)
			}
			// CPU time: on a loaded machine the wall time counts waits for a core.
			b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-µs/batch")
		})
	}
}
