package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestInferenceMatchesTraining: the im2col inference forward pass (no
// columns kept for backward, one chunk buffer reused) gives the training
// forward pass's bits, at batch sizes of one chunk and of several. The
// direct path, which AVX-512 machines take instead, matches within
// rounding (TestDirectConvMatchesTraining).
func TestInferenceMatchesTraining(t *testing.T) {
	saved, savedK := convChunkFloats, haveConvK
	defer func() { convChunkFloats, haveConvK = saved, savedK }()
	haveConvK = false // before Build, which picks each conv's path
	for _, chunk := range []int{saved, 1 << 12} {
		convChunkFloats = chunk
		m := mustBuild(t, mustPreset(t, "cnn", PresetOptions{}), 3)
		for _, n := range []int{1, 5, 17} {
			x := randData(rand.New(rand.NewPCG(uint64(n), 1)), n, m.InputSize(), 0)
			train := append([]float32(nil), m.forward(x, n, true)...)
			got := m.Forward(x, n)
			for i := range train {
				if math.Float32bits(got[i]) != math.Float32bits(train[i]) {
					t.Fatalf("chunk %d, batch %d: logit %d is %v in inference, %v in training", chunk, n, i, got[i], train[i])
				}
			}
		}
	}
}
