package avg

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Averager averages one parameter vector with peers of one job.
//
// Concurrency contract: the Averager guards params with a mutex. The
// training goroutine holds a.Lock()/a.Unlock() around everything that reads
// or writes params (TrainBatch, optimizer Step, evaluation). Every other
// method is called WITHOUT holding it; they take it only to copy params out
// (snapshot) and to write the result back. Incoming exchanges are served at
// any time on libp2p goroutines; at most one exchange (incoming or outgoing)
// runs per Averager at a time, so each is atomic on both peers. If the
// trainer changed params during an exchange, the average's change relative
// to the snapshot is added to the current params, so no local step is lost.
type Averager struct {
	svc  *Service
	self peer.ID
	job  string
	cfg  Config

	// Lock order: mu before smu, never the other way.
	mu      sync.Mutex // params, version, outer state
	params  []float32
	version uint64 // bumped by Unlock and by applied averages

	consensus atomic.Bool
	closed    atomic.Bool
	round     atomic.Uint64

	// sem serializes exchanges. Everything below it up to smu is used only
	// while holding sem.
	sem                           chan struct{}
	resid                         []float32 // error feedback: what compression has not sent yet
	snap, send, sdec, theirs, avg []float32
	buf, rbuf                     []byte

	smu      sync.Mutex // weight, rep, clip, totals, queue, rng, final
	weight   float64
	rep      map[peer.ID]float64
	clip     clipper
	totals   Totals
	queue    []peer.ID
	rng      *rand.Rand
	exchTime time.Duration // moving average of a completed exchange's duration
	final    []float32     // set once frozen
	finalSum [32]byte

	// One exchange per period (see Round): servedInPeriod is set when a
	// partner's exchange completed since the last period boundary,
	// initiatedInPeriod when this peer's own one did; either makes serve
	// refuse further partners until the next boundary. lastServed
	// describes the served exchange, for Round to return.
	paced                             bool // Round was called: one exchange per period
	servedInPeriod, initiatedInPeriod bool
	lastServed                        ExchangeStats

	outerStart, outerMom []float32
}

// Lock must be held by the trainer while it reads or writes params.
func (a *Averager) Lock() { a.mu.Lock() }

// Unlock releases the params after a local step.
func (a *Averager) Unlock() {
	a.version++
	a.mu.Unlock()
}

// Params is the averaged slice (the one given to Join).
func (a *Averager) Params() []float32 { return a.params }

// JobID is the job this averager belongs to.
func (a *Averager) JobID() string { return a.job }

// AddSamples adds n to this peer's weight (samples seen). A peer that has
// seen no samples has weight 0; two such peers average with equal weights.
// It may be called with or without Lock held.
func (a *Averager) AddSamples(n int) {
	a.smu.Lock()
	a.weight += float64(n)
	a.smu.Unlock()
}

// SetWeight sets this peer's weight directly (samples seen), with or
// without Lock held.
func (a *Averager) SetWeight(w float64) {
	if !(w >= 0) || w > maxWeight {
		return
	}
	a.smu.Lock()
	a.weight = w
	a.smu.Unlock()
}

// SetConsensus switches to equal weights (the consensus phase).
func (a *Averager) SetConsensus(on bool) { a.consensus.Store(on) }

// Close leaves the job: incoming exchanges are refused from now on.
func (a *Averager) Close() {
	a.closed.Store(true)
	a.svc.mu.Lock()
	if a.svc.jobs[a.job] == a {
		delete(a.svc.jobs, a.job)
	}
	a.svc.mu.Unlock()
}

func (a *Averager) frozen() bool {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.final != nil
}

// acquire takes the exchange slot, waiting at most until ctx is done.
func (a *Averager) acquire(ctx context.Context) error {
	select {
	case a.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Averager) release() { <-a.sem }

// flags is what this peer announces in its headers: in the consensus phase
// it asks for equal weights, and either side asking is enough.
func (a *Averager) flags() uint8 {
	if a.consensus.Load() {
		return flagEqual
	}
	return 0
}
