package registry

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/text"
	"github.com/shoalmesh/shoal/serve/inference"
)

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// presetArtifact builds an untrained preset (weights' values do not
// change their size) as a float artifact.
func presetArtifact(t testing.TB, name string) *artifact.Artifact {
	t.Helper()
	o := nn.PresetOptions{Classes: 10}
	kind, labels := artifact.KindImage, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	var enc *text.Encoder
	if name == "lstm-text" {
		o = nn.PresetOptions{Vocab: 20000, MaxLen: 64, Classes: 2}
		kind, labels = artifact.KindText, []string{"ham", "spam"}
		toks := make([]string, o.Vocab-text.Reserved)
		for i := range toks {
			toks[i] = fmt.Sprintf("token%05d", i)
		}
		v, err := text.NewVocab(toks)
		if err != nil {
			t.Fatal(err)
		}
		enc = &text.Encoder{Tokenizer: *text.NewTokenizer(), Vocab: v, MaxLen: o.MaxLen}
	}
	spec, err := nn.Preset(name, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.Build(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, kind, labels, enc, artifact.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestFootprint: the estimate a budget goes by is at least the heap that
// loading a model and one full batch really take (so a budget holds), and
// at most 3× it (so it does not refuse what would fit by much), for the
// float and int8 forms of mlp, cnn and lstm-text.
func TestFootprint(t *testing.T) {
	const batch = DefaultMaxBatchSize
	dir := t.TempDir()
	for _, name := range []string{"mlp", "cnn", "lstm-text"} {
		a := presetArtifact(t, name)
		q, err := a.Quantize(nn.QuantizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*artifact.Artifact{a, q} {
			form := map[bool]string{false: "float32", true: "int8"}[x.Model.Quantized()]
			path := filepath.Join(dir, name+"-"+form+".safetensors")
			if _, err := x.Save(path); err != nil {
				t.Fatal(err)
			}
			fp, err := FileFootprint(path, batch)
			if err != nil {
				t.Fatal(err)
			}
			if fp.Int8 != x.Model.Quantized() {
				t.Errorf("%s %s: footprint says int8 %v", name, form, fp.Int8)
			}
			in := make([]any, batch)
			for i := range in {
				if x.Encoder != nil {
					in[i] = "token00001 token00002 some words"
				} else {
					in[i] = make([]float32, x.Model.InputSize())
				}
			}
			h0 := liveHeap()
			l, err := artifact.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Predict(in); err != nil {
				t.Fatal(err)
			}
			got := liveHeap() - h0
			runtime.KeepAlive(l)
			runtime.KeepAlive(in)
			t.Logf("%-9s %-7s file %8d  measured %9d  estimate %9d (%s)", name, form, fp.File, got, fp.Resident(), fp)
			if fp.Resident() < got || fp.Resident() > 3*got {
				t.Errorf("%s %s: estimate %d for a measured %d (want between 1× and 3×)", name, form, fp.Resident(), got)
			}
		}
	}
}

// TestBudgetRefusesWhatDoesNotFit: under a budget that holds one model,
// a second one is not loaded: it reports END with an error naming its
// sizes, the budget and what is used; once the first is unloaded it
// loads on the next pass.
func TestBudgetRefusesWhatDoesNotFit(t *testing.T) {
	store, err := modelstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := presetArtifact(t, "mlp")
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"one", "two"} {
		if _, err := store.Publish(name, b); err != nil {
			t.Fatal(err)
		}
	}
	path, _ := store.Path("one", 1)
	fp, err := FileFootprint(path, DefaultMaxBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	budget := fp.Resident() + fp.Peak() - 1 // one loaded, the other's load does not fit
	r, err := New(store, Options{MemBudget: budget, RescanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if m, err := r.Lookup("one", 0, ""); err != nil || m.Signature().Quantized {
		t.Fatalf("one: %v (a float model must not say int8)", err)
	}
	_, err = r.Lookup("two", 0, "")
	if !errors.Is(err, inference.ErrVersionNotFound) {
		t.Fatalf("two loaded under a budget for one: %v", err)
	}
	for _, want := range []string{"two version 1 (float32) does not fit the memory budget", "loading it needs " + size(fp.Peak()),
		"the budget is " + size(budget), size(fp.Resident()) + " is already used by one version 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	if bud, used := r.MemoryUse(); bud != budget || used != fp.Resident() {
		t.Errorf("MemoryUse = %d, %d; want %d, %d", bud, used, budget, fp.Resident())
	}
	if err := r.CheckBudget("three", fp, 0, ""); !errors.Is(err, ErrOverBudget) {
		t.Errorf("CheckBudget of a third = %v", err)
	}
	if err := r.Unload("one"); err != nil {
		t.Fatal(err)
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup("two", 0, ""); err != nil {
		t.Fatalf("two after one unloaded: %v", err)
	}
	// The int8 form says so in its signature (heartbeats announce it).
	qa, err := a.Quantize(nn.QuantizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	qb, _, err := qa.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Publish("q", qb); err != nil {
		t.Fatal(err)
	}
	if err := r.Unload("two"); err != nil {
		t.Fatal(err)
	}
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Lookup("q", 0, ""); err != nil || !m.Signature().Quantized {
		t.Fatalf("int8 q: %v, signature does not say int8", err)
	}
	if err := r.Unload("q"); err != nil {
		t.Fatal(err)
	}
	if err := r.Serve("two"); err != nil {
		t.Fatal(err)
	}
	if err := r.Serve("one"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup("one", 0, ""); err == nil {
		t.Error("one loaded back beside two, over the budget")
	}
}
