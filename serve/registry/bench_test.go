package registry

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/inference"
)

// BenchmarkPredictConcurrent measures requests of one MNIST input (the
// mlp preset, 784-128-10, random weights) from 1, 16 and 64 goroutines
// that each send the next request when the last is answered:
//
//   - direct: artifact.Predict per request, no batching (the baseline);
//   - batch0: the registry with BatchTimeout 0 (the default);
//   - batch1ms: the registry with BatchTimeout 1 ms.
//
// It reports req/s and the mean inputs per forward pass.
func BenchmarkPredictConcurrent(b *testing.B) {
	a := mlpArt(b, 1)
	s := newStore(b)
	publish(b, s, "mnist", a)
	rng := rand.New(rand.NewPCG(1, 1))
	xs := make([]inference.Input, 256)
	for i := range xs {
		xs[i] = vec(rng, 784)
	}
	modes := []struct {
		name    string
		timeout time.Duration
		direct  bool
	}{
		{"direct", 0, true},
		{"batch0", 0, false},
		{"batch1ms", time.Millisecond, false},
	}
	for _, mode := range modes {
		for _, g := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/goroutines=%d", mode.name, g), func(b *testing.B) {
				r, err := New(s, Options{BatchTimeout: mode.timeout, RescanInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				m := lookup(b, r, "mnist", 0, "").(*model)
				var next atomic.Int64
				var failed atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				for w := range g {
					wg.Go(func() {
						for i := w; next.Add(1) <= int64(b.N); i++ {
							in := xs[i%len(xs) : i%len(xs)+1]
							var err error
							if mode.direct {
								_, err = a.Predict(in)
							} else {
								_, err = m.Predict(b.Context(), in)
							}
							if err != nil {
								failed.Add(1)
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d requests failed", n)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				if p := m.passes.Load(); p > 0 {
					b.ReportMetric(float64(b.N)/float64(p), "inputs/pass")
				}
			})
		}
	}
}
