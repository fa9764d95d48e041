package registry

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve/inference"
)

// smallArt is an image model taking 4 numbers into 3 classes, weights
// drawn from seed (a different seed: a different model and hash).
func smallArt(t testing.TB, seed uint64) *artifact.Artifact {
	t.Helper()
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{
		{Type: "dense", Units: 8, Activation: "relu"},
		{Type: "dense", Units: 3},
	}}, seed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// mlpArt is the MNIST mlp preset (784-128-10) with random weights.
func mlpArt(t testing.TB, seed uint64) *artifact.Artifact {
	t.Helper()
	spec, err := nn.Preset("mlp", nn.PresetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.Build(spec, seed)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]string, 10)
	for i := range labels {
		labels[i] = strconv.Itoa(i)
	}
	a, err := artifact.New(m, artifact.KindImage, labels, nil, artifact.Provenance{Model: "mlp", Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// encoded returns a's model file and sets a.Hash.
func encoded(t testing.TB, a *artifact.Artifact) []byte {
	t.Helper()
	b, h, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a.Hash = h
	return b
}

func newStore(t testing.TB) *modelstore.Store {
	t.Helper()
	s, err := modelstore.Open(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newRegistry(t testing.TB, s *modelstore.Store, opts Options) *Registry {
	t.Helper()
	r, err := New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func publish(t testing.TB, s *modelstore.Store, name string, a *artifact.Artifact) int {
	t.Helper()
	v, err := s.Publish(name, encoded(t, a))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// handCopy writes data as version v of name the way an operator's cp does:
// the folder first, then the file in place (not atomically).
func handCopy(t testing.TB, s *modelstore.Store, name string, v int, data []byte) string {
	t.Helper()
	dir := filepath.Join(s.Root(), name, strconv.Itoa(v))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, modelstore.FileName)
	if data != nil {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func vec(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

func lookup(t testing.TB, r *Registry, name string, v int, label string) inference.Model {
	t.Helper()
	m, err := r.Lookup(name, v, label)
	if err != nil {
		t.Fatalf("Lookup(%q, %d, %q): %v", name, v, label, err)
	}
	return m
}

func predictOne(t testing.TB, m inference.Model, x []float32) inference.Prediction {
	t.Helper()
	p, err := m.Predict(context.Background(), []inference.Input{x})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if len(p) != 1 {
		t.Fatalf("%d predictions for 1 input", len(p))
	}
	return p[0]
}

// samePrediction compares two predictions within float32 rounding (a
// batched pass may sum in another order than a pass of one).
func samePrediction(a, b inference.Prediction) bool {
	if a.Label != b.Label || a.Class != b.Class || len(a.Probabilities) != len(b.Probabilities) {
		return false
	}
	for i := range a.Probabilities {
		if math.Abs(a.Probabilities[i]-b.Probabilities[i]) > 1e-5 {
			return false
		}
	}
	return true
}

// gather returns the metric family called name from reg, or nil.
func gather(t testing.TB, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// metricWith returns the metric of family name whose labels are exactly
// labels, or nil.
func metricWith(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f := gather(t, reg, name)
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

func statusOf(t testing.TB, r *Registry, name string, v int) inference.VersionStatus {
	t.Helper()
	vs, err := r.Versions(name)
	if err != nil {
		return inference.VersionStatus{}
	}
	for _, s := range vs {
		if s.Version == v {
			return s
		}
	}
	return inference.VersionStatus{}
}
