package par

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counter counts how often each part ran and checks the part count it is
// given.
type counter struct {
	parts int
	runs  [MaxParts]atomic.Int32
	bad   atomic.Int32
}

func (c *counter) RunPart(i, n int) {
	if n != c.parts || i < 0 || i >= n {
		c.bad.Add(1)
		return
	}
	c.runs[i].Add(1)
}

// check reports whether every part ran exactly once since the last check.
func (c *counter) check() error {
	if b := c.bad.Swap(0); b != 0 {
		return fmt.Errorf("%d calls with a wrong part or count", b)
	}
	for i := range c.runs {
		want := int32(0)
		if i < c.parts {
			want = 1
		}
		if got := c.runs[i].Swap(0); got != want {
			return fmt.Errorf("part %d of %d ran %d times, want %d", i, c.parts, got, want)
		}
	}
	return nil
}

func TestDoRunsEveryPartOnce(t *testing.T) {
	defer SetThreads(Threads())
	for _, threads := range []int{1, 2, 3, 8} {
		SetThreads(threads)
		for _, n := range []int{1, 2, 3, 8, MaxParts} {
			c := &counter{parts: n}
			for round := range 50 {
				Do(n, c)
				if err := c.check(); err != nil {
					t.Fatalf("threads %d, %d parts, round %d: %v", threads, n, round, err)
				}
			}
		}
	}
	c := &counter{parts: MaxParts}
	Do(MaxParts+5, c)
	if err := c.check(); err != nil {
		t.Fatalf("more than MaxParts: %v (want them capped at MaxParts)", err)
	}
	c = &counter{parts: 0}
	Do(0, c)
	if err := c.check(); err != nil {
		t.Fatalf("zero parts: %v", err)
	}
}

// TestDoTakesOverAStuckShare: with 4 parts on 2 goroutines the worker's
// share is parts 2 and 3. Part 2 does not return until part 3 has run, so
// Do finishes only if the caller, done with parts 0 and 1, takes part 3
// instead of waiting for the worker to get to it.
func TestDoTakesOverAStuckShare(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	for round := range 20 {
		var ran3, timedOut atomic.Bool
		Do(4, taskFunc(func(i, n int) {
			switch i {
			case 2:
				limit := time.Now().Add(10 * time.Second)
				for !ran3.Load() {
					if time.Now().After(limit) {
						timedOut.Store(true)
						return
					}
				}
			case 3:
				ran3.Store(true)
			}
		}))
		if timedOut.Load() {
			t.Fatalf("round %d: part 3 never ran while part 2 was busy: the caller did not take it over", round)
		}
	}
}

// TestDoConcurrentAndNested: Do from several goroutines at once, and Do
// inside a part, each run all their parts (the team is used by one, the
// others run theirs in turn) and none deadlocks (the test's timeout).
func TestDoConcurrentAndNested(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(4)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &counter{parts: 2 + g}
			for range 200 {
				Do(c.parts, c)
				if err := c.check(); err != nil {
					errs <- fmt.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	inner := &counter{parts: 3}
	Do(2, taskFunc(func(i, n int) { Do(inner.parts, inner) })) // the team is busy: runs in the part
	// Two outer parts each ran the inner task once: every inner part twice.
	for i := range inner.parts {
		if got := inner.runs[i].Load(); got != 2 {
			t.Fatalf("nested: inner part %d ran %d times, want 2", i, got)
		}
	}
}

type taskFunc func(i, n int)

func (f taskFunc) RunPart(i, n int) { f(i, n) }

// TestDoWakesParkedWorkers waits (by polling, with a deadline) until the
// workers have parked after SpinFor without work, then checks that a Do
// still reaches them and runs on more than one goroutine.
func TestDoWakesParkedWorkers(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(3)
	c := &counter{parts: 3}
	Do(3, c) // makes sure the team has two workers
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !(workers[0].sleeping.Load() && workers[1].sleeping.Load()) {
		if time.Now().After(deadline) {
			t.Fatal("workers still polling 10 s after their last part (SpinFor is 200 µs)")
		}
		runtime.Gosched()
	}
	// Each part waits until all three have started, which needs three
	// goroutines: the caller and both woken workers.
	var started atomic.Int32
	var timedOut atomic.Bool
	Do(3, taskFunc(func(i, n int) {
		started.Add(1)
		limit := time.Now().Add(10 * time.Second)
		for started.Load() < 3 {
			if time.Now().After(limit) {
				timedOut.Store(true)
				return
			}
		}
	}))
	if timedOut.Load() {
		t.Fatalf("only %d of 3 parts ran at the same time: parked workers were not woken", started.Load())
	}
}

func TestRange(t *testing.T) {
	for _, total := range []int{0, 1, 15, 16, 17, 65, 784, 101770} {
		for n := 1; n <= 9; n++ {
			next := 0
			for i := range n {
				lo, hi := Range(i, n, total)
				if lo != next || hi < lo || hi > total {
					t.Fatalf("Range(%d, %d, %d) = [%d, %d), want it to start at %d and stay within [0, %d]", i, n, total, lo, hi, next, total)
				}
				if i < n-1 && hi < total && hi%16 != 0 {
					t.Fatalf("Range(%d, %d, %d) = [%d, %d): inner bound not a multiple of 16", i, n, total, lo, hi)
				}
				next = hi
			}
			if next != total {
				t.Fatalf("Range(·, %d, %d) covers [0, %d), want [0, %d)", n, total, next, total)
			}
		}
	}
	if lo, hi := Range(0, 2, 784); lo != 0 || hi != 400 {
		t.Fatalf("Range(0, 2, 784) = [%d, %d), want [0, 400)", lo, hi)
	}
}

func TestSetThreads(t *testing.T) {
	defer SetThreads(Threads())
	for _, c := range [][2]int{{0, 1}, {-3, 1}, {1, 1}, {2, 2}, {MaxParts + 10, MaxParts}} {
		SetThreads(c[0])
		if got := Threads(); got != c[1] {
			t.Errorf("SetThreads(%d): Threads() = %d, want %d", c[0], got, c[1])
		}
	}
}

// stamp records when each of two parts started.
type stamp struct{ at [2]time.Time }

func (s *stamp) RunPart(i, n int) { s.at[i] = time.Now() }

// BenchmarkDoHandOff measures how long after Do is called the second of two
// empty parts starts (on a worker, or on the caller when it takes the part
// over), after the team has been idle for a gap: the cost of a hand-off.
// It reports the median and 99th percentile in µs.
//
//	go test -run '^$' -bench DoHandOff ./engine/par
func BenchmarkDoHandOff(b *testing.B) {
	defer SetThreads(Threads())
	SetThreads(2)
	for _, gap := range []time.Duration{0, 10 * time.Microsecond, 40 * time.Microsecond, 150 * time.Microsecond} {
		b.Run(fmt.Sprintf("idle=%v", gap), func(b *testing.B) {
			s := &stamp{}
			var lat []float64
			for b.Loop() {
				for end := time.Now().Add(gap); time.Now().Before(end); {
				}
				start := time.Now()
				Do(2, s)
				lat = append(lat, float64(s.at[1].Sub(start).Nanoseconds())/1000)
			}
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2], "p50-µs")
			b.ReportMetric(lat[len(lat)*99/100], "p99-µs")
		})
	}
}
