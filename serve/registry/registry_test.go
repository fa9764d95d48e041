package registry

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/text"
	"github.com/shoalmesh/shoal/serve/inference"
)

// TestLoadFailures: a version whose file does not load is reported END
// with the reason, is never served, and leaves the good version served.
func TestLoadFailures(t *testing.T) {
	s := newStore(t)
	good := smallArt(t, 1)
	publish(t, s, "m", good)
	other := smallArt(t, 2)
	data := encoded(t, other)

	flipped := bytes.Clone(data)
	flipped[len(flipped)-5] ^= 0x40 // a weight byte
	wrongHash := bytes.Clone(data)
	i := bytes.Index(wrongHash, []byte(other.Hash))
	if i < 0 {
		t.Fatal("hash not found in the header")
	}
	if wrongHash[i] == 'f' { // another valid hex digit, same length
		wrongHash[i] = '0'
	} else {
		wrongHash[i] = 'f'
	}
	noHashCheck, _, err := modelfile.Encode([]modelfile.Tensor{modelfile.F32Tensor("w", []int{2}, []float32{1, 2})}, map[string]string{"x": "y"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	cases := []struct {
		name string
		data []byte // nil: an empty version folder
		want string
	}{
		{"truncated", data[:len(data)*2/3], "modelfile"},
		{"corrupt bytes", flipped, "hash mismatch"},
		{"wrong hash", wrongHash, "hash mismatch"},
		{"not a shoal model", noHashCheck, "not a shoal model"},
		{"garbage", garbage, "modelfile"},
		{"empty file", []byte{}, "modelfile"},
		{"no file", nil, "no model.safetensors"},
	}
	for k, c := range cases {
		handCopy(t, s, "m", 2+k, c.data)
	}
	reg := prometheus.NewRegistry()
	r := newRegistry(t, s, Options{RescanInterval: -1, Registerer: reg, KeepVersions: 1})
	if m := lookup(t, r, "m", 0, ""); m.Version() != 1 || m.Signature().Hash != good.Hash {
		t.Fatalf("served version %d (hash %s), want the good version 1", m.Version(), m.Signature().Hash)
	}
	for k, c := range cases {
		v := 2 + k
		st := statusOf(t, r, "m", v)
		if st.State != inference.StateEnd || !strings.Contains(st.Error, c.want) {
			t.Errorf("%s: version %d is %+v, want END mentioning %q", c.name, v, st, c.want)
		}
		_, err := r.Lookup("m", v, "")
		if !errors.Is(err, inference.ErrVersionNotFound) || !strings.Contains(err.Error(), "failed to load") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Lookup = %v, want ErrVersionNotFound with the reason", c.name, err)
		}
		if err := r.SetLabel("m", "canary", v); !errors.Is(err, inference.ErrVersionNotFound) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: SetLabel = %v", c.name, err)
		}
	}
	if m := metricWith(t, reg, MetricLoadFailures, map[string]string{"model": "m"}); m == nil || m.GetCounter().GetValue() != float64(len(cases)) {
		t.Errorf("load failures metric %v, want %d", m, len(cases))
	}
	if m := metricWith(t, reg, MetricLoadedVersions, map[string]string{"model": "m"}); m == nil || m.GetGauge().GetValue() != 1 {
		t.Errorf("loaded versions metric %v, want 1", m)
	}
	// A failed version is not tried again while its file stays the same.
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if m := metricWith(t, reg, MetricLoadFailures, map[string]string{"model": "m"}); m.GetCounter().GetValue() != float64(len(cases)) {
		t.Errorf("unchanged failed files were loaded again: %v failures", m.GetCounter().GetValue())
	}
	// Repairing the truncated file makes it load on the next pass, and it
	// is then the newest that loaded.
	if err := os.WriteFile(filepath.Join(s.Root(), "m", "2", modelstore.FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if m := lookup(t, r, "m", 0, ""); m.Version() != 2 || m.Signature().Hash != other.Hash {
		t.Fatalf("after the repair version %d is served, want 2", m.Version())
	}
	if st := statusOf(t, r, "m", 1); st.State != inference.StateEnd || st.Error != StateUnloaded {
		t.Fatalf("version 1 after a newer one loaded (keep 1): %+v", st)
	}
}

// TestModelWithoutGoodVersion: a model whose only version fails is listed,
// and Lookup says why nothing is served.
func TestModelWithoutGoodVersion(t *testing.T) {
	s := newStore(t)
	handCopy(t, s, "broken", 1, []byte("not a model"))
	r := newRegistry(t, s, Options{RescanInterval: -1})
	if !slices.Equal(r.Names(), []string{"broken"}) {
		t.Fatalf("Names = %v", r.Names())
	}
	if _, err := r.Lookup("broken", 0, ""); !errors.Is(err, inference.ErrVersionNotFound) || !strings.Contains(err.Error(), "version 1:") {
		t.Fatalf("Lookup = %v", err)
	}
	if _, err := r.Lookup("nope", 0, ""); !errors.Is(err, inference.ErrModelNotFound) {
		t.Fatalf("Lookup of an unknown model = %v", err)
	}
	if _, err := r.Versions("nope"); !errors.Is(err, inference.ErrModelNotFound) {
		t.Fatalf("Versions of an unknown model = %v", err)
	}
	if _, err := r.Labels("nope"); !errors.Is(err, inference.ErrModelNotFound) {
		t.Fatalf("Labels of an unknown model = %v", err)
	}
	if _, err := r.Lookup("broken", -1, ""); !errors.Is(err, inference.ErrVersionNotFound) {
		t.Fatalf("Lookup of version -1 = %v", err)
	}
}

// TestNewestServedAndPolicy: the newest version that loaded is served; the
// newest KeepVersions and every labelled version stay loaded; each version
// answers with its own weights.
func TestNewestServedAndPolicy(t *testing.T) {
	s := newStore(t)
	arts := map[int]*artifact.Artifact{}
	for v := 1; v <= 4; v++ {
		arts[v] = smallArt(t, uint64(v))
		publish(t, s, "m", arts[v])
	}
	publish(t, s, "other", smallArt(t, 9))
	r := newRegistry(t, s, Options{RescanInterval: -1})
	if !slices.Equal(r.Names(), []string{"m", "other"}) {
		t.Fatalf("Names = %v", r.Names())
	}
	if m := lookup(t, r, "m", 0, ""); m.Version() != 4 || m.Name() != "m" {
		t.Fatalf("served %s version %d, want m 4", m.Name(), m.Version())
	}
	got, _ := r.Versions("m")
	want := []inference.VersionStatus{
		{Version: 4, State: inference.StateAvailable},
		{Version: 3, State: inference.StateAvailable},
		{Version: 2, State: inference.StateEnd, Error: StateUnloaded},
		{Version: 1, State: inference.StateEnd, Error: StateUnloaded},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Versions =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := r.Lookup("m", 2, ""); !errors.Is(err, inference.ErrVersionNotFound) || !strings.Contains(err.Error(), "not loaded") {
		t.Fatalf("Lookup of an unloaded version = %v", err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := vec(rng, 4)
	for v := 3; v <= 4; v++ {
		want, err := arts[v].PredictVectors([][]float32{x})
		if err != nil {
			t.Fatal(err)
		}
		if got := predictOne(t, lookup(t, r, "m", v, ""), x); !samePrediction(got, want[0]) {
			t.Fatalf("version %d predicts %+v, its artifact %+v", v, got, want[0])
		}
	}
	// Labelling an unloaded version loads it and keeps it loaded.
	if err := r.SetLabel("m", "stable", 1); err != nil {
		t.Fatal(err)
	}
	if m := lookup(t, r, "m", 0, "stable"); m.Version() != 1 || m.Signature().Hash != arts[1].Hash {
		t.Fatalf("label stable gives version %d", m.Version())
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, r, "m", 1); st.State != inference.StateAvailable {
		t.Fatalf("labelled version 1 after a rescan: %+v", st)
	}
	if st := statusOf(t, r, "m", 2); st.State != inference.StateEnd {
		t.Fatalf("version 2: %+v", st)
	}
	// Unlabelled again, it is unloaded by the next pass.
	if err := r.RemoveLabel("m", "stable"); err != nil {
		t.Fatal(err)
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, r, "m", 1); st.State != inference.StateEnd || st.Error != StateUnloaded {
		t.Fatalf("version 1 after its label went: %+v", st)
	}
	// A version folder removed by hand is forgotten; so is a whole model.
	if err := os.RemoveAll(filepath.Join(s.Root(), "m", "4")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(s.Root(), "other")); err != nil {
		t.Fatal(err)
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if m := lookup(t, r, "m", 0, ""); m.Version() != 3 {
		t.Fatalf("after removing version 4, version %d is served", m.Version())
	}
	if st := statusOf(t, r, "m", 2); st.State != inference.StateAvailable {
		t.Fatalf("version 2 is among the newest two again: %+v", st)
	}
	if !slices.Equal(r.Names(), []string{"m"}) {
		t.Fatalf("Names after removing a model = %v", r.Names())
	}
}

// TestLabels: SetLabel refuses what did not load, writes through the
// store, and labels set on the store directly are followed.
func TestLabels(t *testing.T) {
	s := newStore(t)
	publish(t, s, "m", smallArt(t, 1))
	publish(t, s, "m", smallArt(t, 2))
	handCopy(t, s, "m", 3, []byte("junk"))
	r := newRegistry(t, s, Options{RescanInterval: -1})

	cases := []struct {
		name    string
		model   string
		label   string
		version int
		is      []error
		want    string
	}{
		{"failed version", "m", "canary", 3, []error{inference.ErrVersionNotFound}, "failed to load"},
		{"unknown version", "m", "canary", 7, []error{inference.ErrVersionNotFound}, "version 7"},
		{"unknown model", "x", "canary", 1, []error{inference.ErrModelNotFound}, `"x"`},
		{"number", "m", "12", 1, []error{inference.ErrBadInput, modelstore.ErrInvalidName}, "number"},
		{"latest", "m", "latest", 1, []error{inference.ErrBadInput, modelstore.ErrInvalidName}, "reserved"},
		{"slash", "m", "a/b", 1, []error{inference.ErrBadInput, modelstore.ErrInvalidName}, "a/b"},
		{"colon", "m", "a:b", 1, []error{inference.ErrBadInput, modelstore.ErrInvalidName}, "a:b"},
	}
	for _, c := range cases {
		err := r.SetLabel(c.model, c.label, c.version)
		for _, is := range c.is {
			if !errors.Is(err, is) {
				t.Errorf("%s: SetLabel = %v, want it to wrap %v", c.name, err, is)
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: SetLabel = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	if ls, _ := s.Labels("m"); len(ls) != 0 {
		t.Fatalf("refused labels reached the store: %v", ls)
	}
	if err := r.SetLabel("m", "stable", 1); err != nil {
		t.Fatal(err)
	}
	if err := r.SetLabel("m", "canary", 2); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.Labels("m"); !reflect.DeepEqual(ls, map[string]int{"stable": 1, "canary": 2}) {
		t.Fatalf("store labels %v", ls)
	}
	if ls, _ := r.Labels("m"); !reflect.DeepEqual(ls, map[string]int{"stable": 1, "canary": 2}) {
		t.Fatalf("registry labels %v", ls)
	}
	if m := lookup(t, r, "m", 0, "stable"); m.Version() != 1 {
		t.Fatalf("stable -> %d", m.Version())
	}
	if _, err := r.Lookup("m", 0, "nope"); !errors.Is(err, inference.ErrVersionNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown label: %v", err)
	}
	// A label set on the store by someone else (the CLI) is followed
	// through the store's notification: the rescan is off here.
	if err := s.SetLabel("m", "stable", 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stable to move to version 2", func() bool {
		m, err := r.Lookup("m", 0, "stable")
		return err == nil && m.Version() == 2
	})
	if err := s.RemoveLabel("m", "canary"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "canary to go", func() bool {
		_, err := r.Lookup("m", 0, "canary")
		return errors.Is(err, inference.ErrVersionNotFound)
	})
}

// TestPublishNotification: a version published through the store is
// loaded and served without any rescan (the interval is off).
func TestPublishNotification(t *testing.T) {
	s := newStore(t)
	publish(t, s, "m", smallArt(t, 1))
	r := newRegistry(t, s, Options{RescanInterval: -1})
	a2 := smallArt(t, 2)
	publish(t, s, "m", a2)
	waitFor(t, "version 2 to be served", func() bool {
		m, err := r.Lookup("m", 0, "")
		return err == nil && m.Version() == 2 && m.Signature().Hash == a2.Hash
	})
	// A new model too.
	publish(t, s, "fresh", smallArt(t, 3))
	waitFor(t, "model fresh", func() bool {
		_, err := r.Lookup("fresh", 1, "")
		return err == nil
	})
	// A hand-copied folder is not noticed without a rescan, but Rescan
	// finds it.
	handCopy(t, s, "m", 3, encoded(t, smallArt(t, 4)))
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if m := lookup(t, r, "m", 0, ""); m.Version() != 3 {
		t.Fatalf("after Rescan version %d is served", m.Version())
	}
}

// TestLoadingState: a version being loaded reports LOADING and Lookup
// says not ready.
func TestLoadingState(t *testing.T) {
	s := newStore(t)
	r := newRegistry(t, s, Options{RescanInterval: -1})
	if len(r.Names()) != 0 {
		t.Fatalf("Names of an empty store: %v", r.Names())
	}
	// Mark a version LOADING the way plan does (no pass runs here: the
	// rescan is off and the store changes not) and check what readers see.
	r.mu.Lock()
	r.models["m"] = &modelState{versions: map[int]*versionState{1: {state: inference.StateLoading}}, labels: map[string]int{"x": 1}}
	r.mu.Unlock()
	if _, err := r.Lookup("m", 0, ""); !errors.Is(err, inference.ErrNotReady) {
		t.Fatalf("Lookup of the newest while loading: %v", err)
	}
	if _, err := r.Lookup("m", 1, ""); !errors.Is(err, inference.ErrNotReady) {
		t.Fatalf("Lookup of a loading version: %v", err)
	}
	if _, err := r.Lookup("m", 0, "x"); !errors.Is(err, inference.ErrNotReady) {
		t.Fatalf("Lookup by label of a loading version: %v", err)
	}
	if err := r.SetLabel("m", "y", 1); !errors.Is(err, inference.ErrNotReady) {
		t.Fatalf("SetLabel on a loading version: %v", err)
	}
	if st := statusOf(t, r, "m", 1); st.State != inference.StateLoading {
		t.Fatalf("state %+v", st)
	}
}

// TestSignature: what Signature says of image models of 784 and of other
// sizes, and of a text model.
func TestSignature(t *testing.T) {
	s := newStore(t)
	mlp := mlpArt(t, 1)
	publish(t, s, "mnist", mlp)
	small := smallArt(t, 1)
	publish(t, s, "small", small)
	enc := &text.Encoder{Tokenizer: *text.NewTokenizer(), Vocab: text.BuildVocab([][]string{{"good", "bad"}}, 10), MaxLen: 6}
	spec, err := nn.Preset("seed-text", nn.PresetOptions{Vocab: enc.Vocab.Size(), MaxLen: 6})
	if err != nil {
		t.Fatal(err)
	}
	tm, err := nn.Build(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := artifact.New(tm, artifact.KindText, []string{"bad", "good"}, enc, artifact.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, s, "text", txt)
	r := newRegistry(t, s, Options{RescanInterval: -1})
	cases := []struct {
		name string
		want inference.Signature
	}{
		{"mnist", inference.Signature{Kind: inference.KindImage, InputShape: []int{28, 28}, InputSize: 784, Labels: mlp.Labels, Hash: mlp.Hash}},
		{"small", inference.Signature{Kind: inference.KindImage, InputShape: []int{4}, InputSize: 4, Labels: []string{"a", "b", "c"}, Hash: small.Hash}},
		{"text", inference.Signature{Kind: inference.KindText, InputShape: []int{}, InputSize: 6, Labels: []string{"bad", "good"}, Hash: txt.Hash}},
	}
	for _, c := range cases {
		m := lookup(t, r, c.name, 0, "")
		got := m.Signature()
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: Signature = %+v, want %+v", c.name, got, c.want)
		}
		got.Labels[0] = "changed"
		if m.Signature().Labels[0] == "changed" {
			t.Errorf("%s: Signature shares its labels with the caller", c.name)
		}
	}
	// A text model takes strings; an image model refuses them.
	tmod := lookup(t, r, "text", 0, "")
	if err := tmod.Check("good day"); err != nil {
		t.Fatal(err)
	}
	if p, err := tmod.Predict(t.Context(), []inference.Input{"good", "bad"}); err != nil || len(p) != 2 {
		t.Fatalf("text Predict: %v, %v", p, err)
	}
	if err := lookup(t, r, "mnist", 0, "").Check("text"); !errors.Is(err, inference.ErrBadInput) {
		t.Fatalf("image model Check(text) = %v", err)
	}
}

// TestOptions: bad options and a registerer used twice are refused.
func TestOptions(t *testing.T) {
	s := newStore(t)
	if _, err := New(nil, Options{}); err == nil {
		t.Fatal("nil store accepted")
	}
	for _, o := range []Options{{KeepVersions: -1}, {MaxBatchSize: -1}, {QueueSize: -1}, {BatchTimeout: -1}} {
		if _, err := New(s, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	reg := prometheus.NewRegistry()
	newRegistry(t, s, Options{Registerer: reg})
	if _, err := New(s, Options{Registerer: reg}); err == nil {
		t.Fatal("a second registry on the same registerer was accepted")
	}
	o, err := Options{}.withDefaults()
	if err != nil || o.KeepVersions != 2 || o.MaxBatchSize != 32 || o.QueueSize != 1024 || o.RescanInterval != DefaultRescanInterval || o.BatchTimeout != 0 {
		t.Fatalf("defaults %+v, %v", o, err)
	}
}
