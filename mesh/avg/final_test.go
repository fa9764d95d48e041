package avg

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestConsensusAndFinalize: peers run the consensus phase concurrently, then
// Finalize; all end with the same SHA-256.
var robustMode = RobustClip

func TestConsensusAndFinalize(t *testing.T) {
	const peers, n = 8, 50_000
	r := rand.New(rand.NewPCG(31, 32))
	ps := newPeers(t, peers, func(int) []float32 { return randVec(r, n, 1) },
		func(int) Config { return Config{Encoding: EncInt8, Robust: robustMode, Timeout: 20 * time.Second} })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Some compressed training-style rounds first, so residuals exist.
	for k := 0; k < 3; k++ {
		ps.roundAll(t, ctx)
	}
	// The consensus phase preserves the mean of params + unsent residuals.
	mean := make([]float64, n)
	for i, x := range ps.read() {
		for j, v := range x {
			mean[j] += (float64(v) + float64(ps.avgs[i].resid[j])) / peers
		}
	}
	var wg sync.WaitGroup
	hashes := make([]string, peers)
	rounds := make([]int, peers)
	errs := make([]error, peers)
	for i, a := range ps.avgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rounds[i], errs[i] = a.Consensus(ctx, func() []peer.ID { return ps.ids }, 1e-3, 100)
			if errs[i] != nil {
				return
			}
			hashes[i], errs[i] = a.Finalize(ctx, ps.ids)
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("peer %d: %v", i, errs[i])
		}
	}
	t.Logf("consensus rounds per peer: %v", rounds)
	for i, a := range ps.avgs {
		t.Logf("peer %d (%s): %+v", i, ps.ids[i].String()[40:], a.Totals())
	}
	final := ps.read()
	for i := range hashes {
		if hashes[i] != hashes[0] {
			t.Fatalf("peer %d hash %s, peer 0 %s", i, hashes[i], hashes[0])
		}
		if h := VectorHash(final[i]); h != hashes[i] {
			t.Fatalf("peer %d: params hash %s, Finalize said %s", i, h, hashes[i])
		}
	}
	// After finalizing, exchanges are refused as final.
	if _, err := ps.avgs[0].ExchangeWith(ctx, ps.ids[1]); !errors.Is(err, ErrFrozen) {
		t.Fatalf("exchange after finalize: %v, want ErrFrozen", err)
	}
	var d2, m2 float64
	for j, m := range mean {
		d := float64(final[0][j]) - m
		d2 += d * d
		m2 += m * m
	}
	rel := math.Sqrt(d2 / m2)
	t.Logf("final hash %s; relative distance of the final vector to the mean before consensus %.3g", hashes[0], rel)
	if rel > 2e-3 {
		t.Errorf("final vector is %.3g from the mean (relative), want < 2e-3", rel)
	}
}

// TestFinalizeSkipsDeadLowest: the lowest member is gone; the others agree
// on the next one.
func TestFinalizeSkipsDeadLowest(t *testing.T) {
	const peers, n = 4, 1000
	r := rand.New(rand.NewPCG(33, 34))
	ps := newPeers(t, peers, func(int) []float32 { return randVec(r, n, 1) }, nil)
	low := slices.Index(ps.ids, slices.Min(ps.ids))
	_ = ps.hosts[low].Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	hashes := make([]string, peers)
	errs := make([]error, peers)
	for i, a := range ps.avgs {
		if i == low {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hashes[i], errs[i] = a.Finalize(ctx, ps.ids)
		}()
	}
	wg.Wait()
	var want string
	for i := range ps.avgs {
		if i == low {
			continue
		}
		if errs[i] != nil {
			t.Fatalf("peer %d: %v", i, errs[i])
		}
		if want == "" {
			want = hashes[i]
		}
		if hashes[i] != want {
			t.Fatalf("hashes differ: %v", hashes)
		}
	}
}

// TestFinalizeRefusesLiar: with RobustClip an honest peer does not adopt a
// corrupted final vector from the lowest id.
func TestFinalizeRefusesLiar(t *testing.T) {
	const peers, n = 3, 1000
	base, vec := honestStart(35, n)
	_ = base
	hosts := newHosts(t, peers)
	ids := []peer.ID{hosts[0].ID(), hosts[1].ID(), hosts[2].ID()}
	low := slices.Index(ids, slices.Min(ids))
	var avgs []*Averager
	for i, h := range hosts {
		cfg := Config{Robust: RobustClip}
		if i == low {
			cfg.Tamper = scale100
		}
		a, err := NewService(h, testProto).Join("job-test", vec(i), cfg)
		if err != nil {
			t.Fatal(err)
		}
		avgs = append(avgs, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := avgs[low].Finalize(ctx, ids); err != nil {
		t.Fatal(err)
	}
	var hs []string
	var wg sync.WaitGroup
	res := make([]string, peers)
	errs := make([]error, peers)
	for i, a := range avgs {
		if i == low {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = a.Finalize(ctx, ids)
		}()
	}
	wg.Wait()
	for i, a := range avgs {
		if i == low {
			continue
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		hs = append(hs, res[i])
		if rep := a.Reputation(ids[low]); rep >= 1 {
			t.Errorf("liar kept reputation %v", rep)
		}
		a.Lock()
		bad := checkFinite(a.Params()) != nil || math.Abs(float64(a.Params()[0]-base[0])) > 1
		a.Unlock()
		if bad {
			t.Fatal("honest peer adopted the liar's vector")
		}
	}
	if hs[0] != hs[1] {
		t.Fatalf("honest peers disagree: %v", hs)
	}
}

func TestOuterStep(t *testing.T) {
	hosts := newHosts(t, 1)
	p := []float32{1, 2, 3}
	a, err := NewService(hosts[0], testProto).Join("job-test", p, Config{OuterLR: 0.5, OuterMomentum: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	a.BeginOuter()
	a.Lock()
	p[0], p[1], p[2] = 0, 2, 4 // "averaged": delta = (1, 0, -1)
	a.Unlock()
	a.OuterStep()
	want := []float32{1 - 0.5*(1+0.9*1), 2, 3 + 0.5*(1+0.9*1)}
	for i := range p {
		if math.Abs(float64(p[i]-want[i])) > 1e-6 {
			t.Fatalf("after outer step %v, want %v", p, want)
		}
	}
	// Second round: momentum carries.
	a.BeginOuter()
	start := slices.Clone(p)
	a.OuterStep() // delta 0: momentum alone moves it
	m := float32(0.9 * 1)
	if got, w := p[0], start[0]-0.5*(0+0.9*m); math.Abs(float64(got-w)) > 1e-6 {
		t.Fatalf("momentum: %v, want %v", got, w)
	}
	// Off by default.
	q := []float32{1}
	b, _ := NewService(newHosts(t, 1)[0], testProto).Join("j2", q, Config{})
	b.BeginOuter()
	q[0] = 5
	b.OuterStep()
	if q[0] != 5 {
		t.Fatal("outer step ran while disabled")
	}
}
