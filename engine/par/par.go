package par

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Task is work that can be done in parts: RunPart(i, n) does part i of n.
// Parts must be independent of each other; Do returns after all are done.
type Task interface {
	RunPart(part, parts int)
}

// MaxParts bounds the parts of one Do (and so the team's size).
const MaxParts = 64

// SpinFor is how long an idle worker keeps polling for the next part before
// it parks. A training step hands out parts every few tens of microseconds;
// 200 µs covers the gaps between them (the loss, a batch gather) and costs at
// most that much CPU after the last one.
const SpinFor = 200 * time.Microsecond

// yieldAfter is how long an idle worker polls before it starts yielding its
// P between polls.
const yieldAfter = 50 * time.Microsecond

var (
	threads atomic.Int32 // 0 means 1

	teamBusy atomic.Bool // held by the goroutine inside Do
	// The Do in progress, written under teamBusy before the workers' seq is
	// bumped, read by them after: its task, its part count, how many team
	// members share it, which parts have been claimed, and how many workers
	// are still inside it.
	task     Task
	nParts   int
	nMembers int
	claimed  [MaxParts]atomic.Bool
	active   atomic.Int32

	workers []*worker // grows, never shrinks; workers[i] is member i+1
)

// SetThreads sets the process-wide number of goroutines work may be split
// over (values below 1 mean 1, above MaxParts mean MaxParts). It is the one
// knob of parallelism in the engine (shoal train --threads).
func SetThreads(n int) { threads.Store(int32(min(max(n, 1), MaxParts))) }

// Threads reports the value set by SetThreads (default 1).
func Threads() int { return max(int(threads.Load()), 1) }

// worker is one team member. seq is bumped by Do for every Do it takes part
// in; the worker runs its share whenever seq moves past what it last saw.
type worker struct {
	seq      atomic.Uint64
	member   int
	sleeping atomic.Bool
	wake     chan struct{} // buffered 1: a token for a parked worker
	_        [64]byte      // keep neighbours' counters off this cache line
}

// Do runs t.RunPart(i, parts) for every i in [0, parts), each exactly once,
// and returns when all have returned. Up to Threads() goroutines share the
// parts: the caller and members of the team, each taking its own
// contiguous share in order (the caller the first share) and then any part
// that nobody has started yet, from the last one down. Shares are the same
// from one Do to the next, so a part usually runs on the core whose cache
// holds its data from the last step; a member that falls behind (its core
// busy with another process, or descheduled) has its unstarted parts taken
// by the others instead of holding everyone up. Which goroutine runs a part
// must not change its result. If the team is busy (another goroutine's Do,
// or a part calling Do), the caller runs all parts itself. Do does not
// allocate.
func Do(parts int, t Task) {
	parts = min(parts, MaxParts)
	members := min(parts, Threads())
	if members <= 1 || !teamBusy.CompareAndSwap(false, true) {
		for i := 0; i < parts; i++ {
			t.RunPart(i, parts)
		}
		return
	}
	ensureWorkers(members - 1)
	task, nParts, nMembers = t, parts, members
	for i := range parts {
		claimed[i].Store(false)
	}
	active.Store(int32(members - 1))
	for i := 1; i < members; i++ {
		w := workers[i-1]
		w.member = i
		w.seq.Add(1) // publishes the Do to the worker
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default: // a token is already waiting
			}
		}
	}
	runShare(0)
	// The other shares are as long as this one, so the wait is short: poll
	// without yielding (a Gosched here would let the scheduler move this
	// goroutine, and its warm caches, to the other core). A worker descheduled
	// by the OS would make it long, hence the yield every 1024 polls.
	for spins := 1; active.Load() != 0; spins++ {
		pause()
		if spins&1023 == 0 {
			runtime.Gosched()
		}
	}
	task = nil
	teamBusy.Store(false)
}

// runShare runs member m's own parts, then every part still unclaimed.
func runShare(m int) {
	lo, hi := m*nParts/nMembers, (m+1)*nParts/nMembers
	for i := lo; i < hi; i++ {
		if claimed[i].CompareAndSwap(false, true) {
			task.RunPart(i, nParts)
		}
	}
	for i := nParts - 1; i >= 0; i-- {
		if !claimed[i].Load() && claimed[i].CompareAndSwap(false, true) {
			task.RunPart(i, nParts)
		}
	}
}

// ensureWorkers grows the team to n workers. Only the goroutine holding
// teamBusy calls it, so the slice needs no lock.
func ensureWorkers(n int) {
	for len(workers) < n {
		w := &worker{wake: make(chan struct{}, 1)}
		workers = append(workers, w)
		go w.loop()
	}
}

func (w *worker) loop() {
	var seen uint64
	for {
		if s := w.wait(seen); s != seen {
			seen = s
			runShare(w.member)
			// Do may start the next Do (and reset the claims) only once
			// every worker is out of this one.
			active.Add(-1)
		}
	}
}

// wait polls for seq to move past seen for SpinFor, then parks until woken.
// It returns the current seq (equal to seen after a spurious wake-up).
func (w *worker) wait(seen uint64) uint64 {
	// Poll without yielding first: runtime.Gosched puts this goroutine on the
	// global run queue, from where the other P may take it and move it, cold,
	// to the other core. Yield only after yieldAfter, to let other goroutines
	// on this P run in a long gap.
	start := time.Now()
	for spins := 1; ; spins++ {
		if s := w.seq.Load(); s != seen {
			return s
		}
		pause()
		if spins&255 == 0 {
			idle := time.Since(start)
			if idle > SpinFor {
				break
			}
			if idle > yieldAfter {
				runtime.Gosched()
			}
		}
	}
	w.sleeping.Store(true)
	// Do bumps seq before it looks at sleeping, and this looks at seq after
	// setting sleeping, so one of the two sees the other: no lost wake-up.
	if w.seq.Load() == seen {
		<-w.wake
	}
	w.sleeping.Store(false)
	return w.seq.Load()
}

// Range returns part i of n of [0, total): contiguous ranges whose bounds
// are multiples of 16 (one 64-byte cache line of float32s, so that parts
// written by different cores share no line), the last one taking the
// remainder. Every splitter in the engine uses it, so that the parts of one
// buffer a core writes in one phase (a layer's weight rows, an optimizer's
// range, a batch's rows) are the parts it reads in the next, from its own
// cache. Parts past the end are empty (lo == hi == total).
func Range(i, n, total int) (lo, hi int) {
	chunk := ((total+n-1)/n + 15) &^ 15
	lo, hi = min(i*chunk, total), min((i+1)*chunk, total)
	if i == n-1 {
		hi = total
	}
	return lo, hi
}
