package registry

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/serve/inference"
)

// gate blocks the batcher's forward passes until released, and records
// the size of each pass.
type gate struct {
	mu      sync.Mutex
	sizes   []int
	entered chan int      // one send per pass, before it waits
	release chan struct{} // closed: passes run freely
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan int, 64), release: make(chan struct{})}
}

func (g *gate) hook(_ *model, n int) {
	g.mu.Lock()
	g.sizes = append(g.sizes, n)
	g.mu.Unlock()
	select {
	case g.entered <- n:
	default: // nobody is counting any more
	}
	<-g.release
}

// open lets every pass through; it may be called more than once.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) passes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

// waitEntered waits for a pass of n inputs to reach the gate.
func (g *gate) waitEntered(t *testing.T, n int) {
	t.Helper()
	select {
	case got := <-g.entered:
		if got != n {
			t.Fatalf("a pass of %d inputs, want %d", got, n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a forward pass")
	}
}

// gatedModel serves one small model whose passes wait at g.
func gatedModel(t *testing.T, opts Options, g *gate) (*Registry, *model) {
	t.Helper()
	s := newStore(t)
	publish(t, s, "m", smallArt(t, 1))
	if g != nil {
		opts.testHookBeforePass = g.hook
	}
	opts.RescanInterval = -1
	r := newRegistry(t, s, opts)
	if g != nil {
		// Runs before the registry's Close (cleanups run last first), so
		// a test failing with the gate shut does not hang in Close.
		t.Cleanup(g.open)
	}
	return r, lookup(t, r, "m", 1, "").(*model)
}

// TestBatchingSharesPasses: concurrent requests share forward passes, and
// each gets what the model predicts for its inputs alone.
func TestBatchingSharesPasses(t *testing.T) {
	reg := prometheus.NewRegistry()
	// A long timeout: the batch runs when full, so the number of passes
	// does not depend on scheduling.
	_, m := gatedModel(t, Options{MaxBatchSize: 8, BatchTimeout: time.Minute, Registerer: reg}, nil)
	rng := rand.New(rand.NewPCG(5, 6))
	sizes := []int{1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 2}
	inputs := make([][]inference.Input, len(sizes))
	want := make([][]inference.Prediction, len(sizes))
	for i, n := range sizes {
		for range n {
			x := vec(rng, 4)
			inputs[i] = append(inputs[i], x)
			p, err := m.art.PredictVectors([][]float32{x}) // one by one
			if err != nil {
				t.Fatal(err)
			}
			want[i] = append(want[i], p[0])
		}
	}
	got := make([][]inference.Prediction, len(sizes))
	errs := make([]error, len(sizes))
	// Eight requests of one, then three that add up to eight in any order.
	for _, part := range [][2]int{{0, 8}, {8, 11}} {
		var wg sync.WaitGroup
		for i := part[0]; i < part[1]; i++ {
			wg.Go(func() { got[i], errs[i] = m.Predict(t.Context(), inputs[i]) })
		}
		wg.Wait()
	}
	for i := range sizes {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if len(got[i]) != sizes[i] {
			t.Fatalf("request %d: %d predictions for %d inputs", i, len(got[i]), sizes[i])
		}
		for j := range got[i] {
			if !samePrediction(got[i][j], want[i][j]) {
				t.Fatalf("request %d input %d: batched %+v, alone %+v", i, j, got[i][j], want[i][j])
			}
		}
	}
	// A request larger than a batch runs alone, in one pass.
	big := make([]inference.Input, 12)
	for i := range big {
		big[i] = vec(rng, 4)
	}
	if p, err := m.Predict(t.Context(), big); err != nil || len(p) != 12 {
		t.Fatalf("a request of 12: %d predictions, %v", len(p), err)
	}
	if n := m.passes.Load(); n != 3 {
		t.Fatalf("%d forward passes for 11 requests of 20 inputs and one of 12, want 3", n)
	}
	h := metricWith(t, reg, MetricBatchSize, map[string]string{"model": "m", "version": "1"})
	if h == nil || h.GetHistogram().GetSampleCount() != 3 || h.GetHistogram().GetSampleSum() != 28 {
		t.Fatalf("batch size histogram %v, want 3 passes of 28 inputs in all", h)
	}
	if d := metricWith(t, reg, MetricQueueDepth, map[string]string{"model": "m", "version": "1"}); d == nil || d.GetGauge().GetValue() != 0 {
		t.Fatalf("queue depth %v, want 0", d)
	}
	// Predictions of one request do not share a backing array with the
	// next request's.
	if cap(got[8]) != len(got[8]) {
		t.Fatalf("a request's predictions have room to grow into another's: cap %d, len %d", cap(got[8]), len(got[8]))
	}
}

// TestBatchTimeoutZero: with no timeout a pass takes what queued up while
// the previous pass ran, up to MaxBatchSize, and no more.
func TestBatchTimeoutZero(t *testing.T) {
	g := newGate()
	_, m := gatedModel(t, Options{MaxBatchSize: 4}, g)
	rng := rand.New(rand.NewPCG(7, 8))
	var wg sync.WaitGroup
	defer wg.Wait()
	fail := make(chan error, 16)
	predict := func() {
		if _, err := m.Predict(t.Context(), []inference.Input{vec(rng, 4)}); err != nil {
			fail <- err
		}
	}
	x := vec(rng, 4)
	wg.Go(func() {
		if _, err := m.Predict(t.Context(), []inference.Input{x}); err != nil {
			fail <- err
		}
	})
	g.waitEntered(t, 1)
	for range 5 {
		y := vec(rng, 4)
		wg.Go(func() {
			if _, err := m.Predict(t.Context(), []inference.Input{y}); err != nil {
				fail <- err
			}
		})
	}
	waitFor(t, "5 requests queued", func() bool { return len(m.queue) == 5 })
	g.open()
	wg.Wait()
	predict()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	if got := g.passes(); !slices.Equal(got, []int{1, 4, 1, 1}) {
		t.Fatalf("passes of %v inputs, want [1 4 1 1]", got)
	}
}

// TestBatchTimeoutWaits: with a timeout a batch that is not full runs once
// the timeout passes.
func TestBatchTimeoutWaits(t *testing.T) {
	_, m := gatedModel(t, Options{MaxBatchSize: 64, BatchTimeout: 20 * time.Millisecond}, nil)
	start := time.Now()
	if _, err := m.Predict(t.Context(), []inference.Input{[]float32{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("answered after %v, before the batch timeout", d)
	}
}

// TestBadInputFailsOnlyItself: bad inputs among concurrent good ones fail
// alone, with the reason; the good ones are answered.
func TestBadInputFailsOnlyItself(t *testing.T) {
	_, m := gatedModel(t, Options{MaxBatchSize: 16, BatchTimeout: 5 * time.Millisecond}, nil)
	rng := rand.New(rand.NewPCG(9, 10))
	type req struct {
		in   inference.Input
		want string // "" for a good input
	}
	var reqs []req
	for i := range 12 {
		switch i {
		case 3:
			reqs = append(reqs, req{[]float32{1, 2}, "takes 4 numbers, got 2"})
		case 7:
			reqs = append(reqs, req{[]float64{1, math.NaN(), 0, 0}, "not a finite number"})
		case 9:
			reqs = append(reqs, req{"text", "not text"})
		default:
			reqs = append(reqs, req{vec(rng, 4), ""})
		}
	}
	errs := make([]error, len(reqs))
	preds := make([][]inference.Prediction, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() { preds[i], errs[i] = m.Predict(t.Context(), []inference.Input{reqs[i].in}) })
	}
	wg.Wait()
	for i, c := range reqs {
		if c.want == "" {
			want, _ := m.art.Predict([]any{c.in})
			if errs[i] != nil || !samePrediction(preds[i][0], want[0]) {
				t.Errorf("good request %d: %v, %v", i, preds[i], errs[i])
			}
			continue
		}
		if !errors.Is(errs[i], inference.ErrBadInput) || !strings.Contains(errs[i].Error(), c.want) {
			t.Errorf("bad request %d: %v, want ErrBadInput mentioning %q", i, errs[i], c.want)
		}
		if err := m.Check(c.in); !errors.Is(err, inference.ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check of bad request %d: %v", i, err)
		}
	}
	// Should an unchecked bad input reach a batch all the same, the pass
	// is redone request by request and only that request fails. (A
	// second model, whose batcher is idle, so process can be called here.)
	_, idle := gatedModel(t, Options{}, nil)
	good := &request{ctx: t.Context(), inputs: []inference.Input{vec(rng, 4)}, done: make(chan result, 1)}
	bad := &request{ctx: t.Context(), inputs: []inference.Input{[]float32{1}}, done: make(chan result, 1)}
	idle.process([]*request{good, bad})
	if res := <-good.done; res.err != nil || len(res.preds) != 1 {
		t.Fatalf("good request in a failed batch: %v", res.err)
	}
	if res := <-bad.done; !errors.Is(res.err, inference.ErrBadInput) {
		t.Fatalf("bad request in a failed batch: %v", res.err)
	}
}

// TestOverloaded: with the queue full Predict fails at once with
// ErrOverloaded; the queued requests are answered.
func TestOverloaded(t *testing.T) {
	g := newGate()
	reg := prometheus.NewRegistry()
	_, m := gatedModel(t, Options{QueueSize: 2, Registerer: reg}, g)
	x := []inference.Input{[]float32{1, 2, 3, 4}}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() { _, err := m.Predict(t.Context(), x); errs <- err })
	g.waitEntered(t, 1) // the batcher holds the first
	for range 2 {
		wg.Go(func() { _, err := m.Predict(t.Context(), x); errs <- err })
	}
	waitFor(t, "2 requests queued", func() bool { return len(m.queue) == 2 })
	if d := metricWith(t, reg, MetricQueueDepth, map[string]string{"model": "m", "version": "1"}); d.GetGauge().GetValue() != 2 {
		t.Fatalf("queue depth %v, want 2", d.GetGauge().GetValue())
	}
	start := time.Now()
	_, err := m.Predict(t.Context(), x)
	if !errors.Is(err, inference.ErrOverloaded) {
		t.Fatalf("Predict with a full queue: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a full queue took %v to refuse", d)
	}
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestContextDeadline: a request whose deadline passes while it is queued
// returns the context's error, and is left out of the pass.
func TestContextDeadline(t *testing.T) {
	g := newGate()
	_, m := gatedModel(t, Options{}, g)
	x := []inference.Input{[]float32{1, 2, 3, 4}}
	first := make(chan error, 1)
	go func() { _, err := m.Predict(t.Context(), x); first <- err }()
	g.waitEntered(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := m.Predict(ctx, x); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Predict past its deadline: %v", err)
	}
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := m.Predict(done, x); !errors.Is(err, context.Canceled) {
		t.Fatalf("Predict with a cancelled context: %v", err)
	}
	g.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, err := m.Predict(t.Context(), x); err != nil {
		t.Fatal(err)
	}
	// The expired request never reached a pass: passes of 1 (the first)
	// and 1 (the last).
	if got := g.passes(); !slices.Equal(got, []int{1, 1}) {
		t.Fatalf("passes %v, want [1 1]", got)
	}
}

// TestClose: Close answers what is queued, then everything fails cleanly.
func TestClose(t *testing.T) {
	g := newGate()
	r, m := gatedModel(t, Options{}, g)
	x := []inference.Input{[]float32{1, 2, 3, 4}}
	errs := make(chan error, 2)
	go func() { _, err := m.Predict(t.Context(), x); errs <- err }()
	g.waitEntered(t, 1)
	go func() { _, err := m.Predict(t.Context(), x); errs <- err }()
	waitFor(t, "a request queued", func() bool { return len(m.queue) == 1 })
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	waitFor(t, "Close to begin", r.closed.Load)
	if _, err := m.Predict(t.Context(), x); !errors.Is(err, ErrClosed) || !errors.Is(err, inference.ErrNotReady) {
		t.Fatalf("Predict after Close: %v", err)
	}
	g.open()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a request queued before Close: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup("m", 0, ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close: %v", err)
	}
	if _, err := m.Predict(t.Context(), x); !errors.Is(err, ErrClosed) {
		t.Fatalf("Predict after Close: %v", err)
	}
	if err := r.Rescan(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rescan after Close: %v", err)
	}
	if err := r.SetLabel("m", "stable", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetLabel after Close: %v", err)
	}
	if st := statusOf(t, r, "m", 1); st.State != inference.StateEnd {
		t.Fatalf("after Close version 1 is %+v", st)
	}
}
