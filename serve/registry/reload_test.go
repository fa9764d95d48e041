package registry

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/serve/inference"
)

// TestHotReloadUnderLoad: versions copied in by hand (one of them first
// incomplete) and published through the store are picked up while
// goroutines query without pause; not one request fails, every answer is
// the one of the version that gave it, and a caller holding a version
// that gets unloaded keeps being served.
func TestHotReloadUnderLoad(t *testing.T) {
	s := newStore(t)
	arts := map[int]*artifact.Artifact{}
	files := map[int][]byte{}
	for v := 1; v <= 4; v++ {
		arts[v] = smallArt(t, uint64(10+v))
		files[v] = encoded(t, arts[v])
	}
	if _, err := s.Publish("m", files[1]); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r := newRegistry(t, s, Options{RescanInterval: 5 * time.Millisecond, Registerer: reg})

	// A few fixed inputs and what each version answers for them.
	rng := rand.New(rand.NewPCG(11, 12))
	xs := make([][]float32, 8)
	for i := range xs {
		xs[i] = vec(rng, 4)
	}
	want := map[int][]inference.Prediction{}
	for v, a := range arts {
		p, err := a.PredictVectors(xs)
		if err != nil {
			t.Fatal(err)
		}
		want[v] = p
	}

	var (
		requests atomic.Int64
		failures atomic.Int64
		seen     [5]atomic.Int64 // answers by version
		firstErr atomic.Value
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		failures.Add(1)
		firstErr.CompareAndSwap(nil, err)
	}
	check := func(m inference.Model, i int) {
		p, err := m.Predict(t.Context(), []inference.Input{xs[i]})
		requests.Add(1)
		switch {
		case err != nil:
			fail(err)
		case !samePrediction(p[0], want[m.Version()][i]):
			fail(fmt.Errorf("version %d answered %+v, want %+v", m.Version(), p[0], want[m.Version()][i]))
		default:
			seen[m.Version()].Add(1)
		}
	}
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m, err := r.Lookup("m", 0, "")
				if err != nil {
					requests.Add(1)
					fail(err)
					continue
				}
				check(m, (g+i)%len(xs))
			}
		})
	}
	// One caller keeps the version 1 it looked up at the start.
	held := lookup(t, r, "m", 1, "")
	var heldAfterUnload atomic.Int64
	var v1Unloaded atomic.Bool
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			check(held, i%len(xs))
			if v1Unloaded.Load() {
				heldAfterUnload.Add(1)
			}
		}
	})
	progress := func(what string, n int64) {
		t.Helper()
		start := requests.Load()
		waitFor(t, what, func() bool { return requests.Load() >= start+n })
	}
	served := func(v int) func() bool {
		return func() bool {
			m, err := r.Lookup("m", 0, "")
			return err == nil && m.Version() == v
		}
	}
	progress("queries to run", 50)

	// Version 2 copied by hand, its file still incomplete: it fails to
	// load and version 1 stays served.
	path2 := handCopy(t, s, "m", 2, files[2][:len(files[2])/2])
	waitFor(t, "the incomplete version 2 to fail", func() bool {
		st := statusOf(t, r, "m", 2)
		return st.State == inference.StateEnd && st.Error != StateUnloaded && st.Error != "" && st.Error != "no model.safetensors in the version folder"
	})
	if m := lookup(t, r, "m", 0, ""); m.Version() != 1 {
		t.Fatalf("version %d served while version 2 is incomplete", m.Version())
	}
	progress("queries with version 2 incomplete", 50)

	// The copy completes: the rescan retries it, as its size changed.
	if err := os.WriteFile(path2, files[2], 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "version 2 to be served", served(2))
	progress("queries on version 2", 50)

	// Version 3, copied in whole: versions 3 and 2 stay, 1 is unloaded.
	handCopy(t, s, "m", 3, files[3])
	waitFor(t, "version 3 to be served", served(3))
	waitFor(t, "version 1 to be unloaded", func() bool {
		st := statusOf(t, r, "m", 1)
		return st.State == inference.StateEnd && st.Error == StateUnloaded
	})
	v1Unloaded.Store(true)
	progress("queries on version 3", 50)

	// Version 4 through the store's notification.
	if _, err := s.Publish("m", files[4]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "version 4 to be served", served(4))
	progress("queries on version 4", 50)
	waitFor(t, "the held version 1 to answer after its unload", func() bool { return heldAfterUnload.Load() >= 20 })

	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; the first: %v", n, requests.Load(), firstErr.Load())
	}
	for v := 1; v <= 4; v++ {
		if seen[v].Load() == 0 {
			t.Errorf("no answer from version %d", v)
		}
	}
	t.Logf("%d requests, by version 1..4: %d %d %d %d", requests.Load(), seen[1].Load(), seen[2].Load(), seen[3].Load(), seen[4].Load())
	if m := metricWith(t, reg, MetricLoadedVersions, map[string]string{"model": "m"}); m.GetGauge().GetValue() != 2 {
		t.Errorf("loaded versions %v, want 2", m.GetGauge().GetValue())
	}
	if m := metricWith(t, reg, MetricLoadFailures, map[string]string{"model": "m"}); m.GetCounter().GetValue() < 1 {
		t.Errorf("load failures %v, want the incomplete copy counted", m.GetCounter().GetValue())
	}
	// The unloaded version's series are gone; the loaded ones are there.
	if metricWith(t, reg, MetricQueueDepth, map[string]string{"model": "m", "version": "1"}) != nil {
		t.Error("queue depth of unloaded version 1 still exported")
	}
	if metricWith(t, reg, MetricBatchSize, map[string]string{"model": "m", "version": "4"}) == nil {
		t.Error("no batch size series for version 4")
	}
}
