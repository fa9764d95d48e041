package avg

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestReleaseKeepsTheFinalServed: members that finalized and released
// their exchange buffers still hand the final vector to a late member, and
// a vector not yet final is not released.
func TestReleaseKeepsTheFinalServed(t *testing.T) {
	const n = 20_000
	r := rand.New(rand.NewPCG(41, 42))
	ps := newPeers(t, 3, func(int) []float32 { return randVec(r, n, 1) },
		func(int) Config { return Config{Timeout: 20 * time.Second} })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ps.avgs[2].Release() {
		t.Fatal("released before the vector is final")
	}
	done := ps.ids[:2]
	var wg sync.WaitGroup
	hashes := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, errs[i] = ps.avgs[i].Consensus(ctx, func() []peer.ID { return done }, 1e-3, 100); errs[i] == nil {
				hashes[i], errs[i] = ps.avgs[i].Finalize(ctx, done)
			}
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || hashes[0] != hashes[1] {
		t.Fatalf("finalize: %v %v, hashes %v", errs[0], errs[1], hashes)
	}
	for i := range 2 {
		if !ps.avgs[i].Release() || ps.avgs[i].snap != nil || ps.avgs[i].theirs != nil || ps.avgs[i].buf != nil {
			t.Fatalf("member %d kept its exchange buffers", i)
		}
	}
	got, err := ps.avgs[2].AdoptFinal(ctx, done)
	if err != nil || got != hashes[0] {
		t.Fatalf("the late member adopted %s, %v; want %s", got, err, hashes[0])
	}
}
