package avg

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkExchangeBusyTrainer times one exchange with a partner whose
// trainer never stops: it holds the params for about a batch of the MNIST
// mlp at a time (0.5 ms of arithmetic) and takes them again at once, as a
// job's training loop does. Run it at -cpu 1,2: with one P the trainer's
// goroutine keeps it, and every step of the exchange that needs another
// goroutine (the stream handler, the reads of the payload) waits for the
// scheduler to preempt the trainer, about 10 ms each time.
//
//	go test -run '^$' -bench ExchangeBusyTrainer -cpu 1,2 ./mesh/avg
func BenchmarkExchangeBusyTrainer(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchExchange(b, false) })
	b.Run("busy", func(b *testing.B) { benchExchange(b, true) })
}

func benchExchange(b *testing.B, train bool) {
	const n = 101_770 // the MNIST mlp's parameters
	r := rand.New(rand.NewPCG(41, 42))
	ps := newPeers(b, 2, func(int) []float32 { return randVec(r, n, 1) }, nil)
	busy, caller := ps.avgs[0], ps.avgs[1]
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		var sink float32
		for train && !stop.Load() {
			busy.Lock()
			for end := time.Now().Add(500 * time.Microsecond); time.Now().Before(end); {
				for _, v := range busy.Params()[:1000] {
					sink += v * v
				}
			}
			busy.Unlock()
		}
		_ = sink
	})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := caller.ExchangeWith(ctx, ps.ids[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
}
