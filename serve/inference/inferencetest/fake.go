package inferencetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/serve/inference"
)

// FakeModel predicts deterministically from its input: a text's class is
// its length in runes, an image's the rounded sum of its values, both
// modulo the number of classes; the class gets probability 0.55 and the
// others share the rest. A model with one label answers the sum itself as
// its only output (a regression). It is safe for concurrent use.
type FakeModel struct {
	// PredictErr, when set, is what Predict returns.
	PredictErr error
	// Block makes Predict wait for its context to end.
	Block bool

	name    string
	version int
	sig     inference.Signature

	mu      sync.Mutex
	checked int                 // inputs passed to Check
	batches [][]inference.Input // inputs passed to Predict
}

// NewFakeModel returns a FakeModel for version of name with signature sig.
func NewFakeModel(name string, version int, sig inference.Signature) *FakeModel {
	return &FakeModel{name: name, version: version, sig: sig}
}

func (m *FakeModel) Name() string                   { return m.name }
func (m *FakeModel) Version() int                   { return m.version }
func (m *FakeModel) Signature() inference.Signature { return m.sig }

// Checked is how many inputs were passed to Check.
func (m *FakeModel) Checked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.checked
}

// Batches returns the inputs of every Predict call so far, in order; the
// caller may keep the outer slice.
func (m *FakeModel) Batches() [][]inference.Input {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.batches)
}

// Check accepts a UTF-8 string for a text model and InputSize finite
// float32s for an image model; its errors wrap inference.ErrBadInput.
func (m *FakeModel) Check(in inference.Input) error {
	m.mu.Lock()
	m.checked++
	m.mu.Unlock()
	switch x := in.(type) {
	case string:
		if m.sig.Kind != inference.KindText {
			return fmt.Errorf("%w: this image model takes numbers", inference.ErrBadInput)
		}
		if !utf8.ValidString(x) {
			return fmt.Errorf("%w: not UTF-8", inference.ErrBadInput)
		}
		return nil
	case []float32:
		if m.sig.Kind == inference.KindText {
			return fmt.Errorf("%w: this text model takes text", inference.ErrBadInput)
		}
		if len(x) != m.sig.InputSize {
			return fmt.Errorf("%w: %d values, want %d", inference.ErrBadInput, len(x), m.sig.InputSize)
		}
		for _, f := range x {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return fmt.Errorf("%w: not finite", inference.ErrBadInput)
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: input of type %T", inference.ErrBadInput, in)
	}
}

// Predict records inputs and answers as the type's comment says.
func (m *FakeModel) Predict(ctx context.Context, inputs []inference.Input) ([]inference.Prediction, error) {
	m.mu.Lock()
	m.batches = append(m.batches, slices.Clone(inputs))
	m.mu.Unlock()
	if m.Block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if m.PredictErr != nil {
		return nil, m.PredictErr
	}
	k := len(m.sig.Labels)
	out := make([]inference.Prediction, len(inputs))
	for i, in := range inputs {
		var score float64
		switch x := in.(type) {
		case string:
			score = float64(utf8.RuneCountInString(x))
		case []float32:
			for _, f := range x {
				score += float64(f)
			}
		}
		if k == 1 {
			out[i] = inference.Prediction{Label: m.sig.Labels[0], Probability: score, Probabilities: []float64{score}}
			continue
		}
		c := int(math.Round(score)) % k
		if c < 0 {
			c += k
		}
		probs := make([]float64, k)
		for j := range probs {
			probs[j] = 0.45 / float64(k-1)
		}
		probs[c] = 0.55
		out[i] = inference.Prediction{Label: m.sig.Labels[c], Class: c, Probability: 0.55, Probabilities: probs}
	}
	return out, nil
}

// FakeVersion is one version a FakeCatalog knows; Model is nil unless it
// is AVAILABLE.
type FakeVersion struct {
	Status inference.VersionStatus
	Model  *FakeModel
}

// Available is m's version, AVAILABLE.
func Available(m *FakeModel) FakeVersion {
	return FakeVersion{Status: inference.VersionStatus{Version: m.version, State: inference.StateAvailable}, Model: m}
}

// FakeCatalog follows the inference.Catalog contract over fixed versions.
// It is safe for concurrent use as long as its maps are not changed.
type FakeCatalog struct {
	// Models maps each model's name to its versions, newest first.
	Models map[string][]FakeVersion
	// VersionLabels maps a model's name to its labels and their versions.
	VersionLabels map[string]map[string]int
}

// Names lists the models, sorted.
func (c *FakeCatalog) Names() []string {
	var names []string
	for n := range c.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup finds a version (0: the newest available one, or label's).
func (c *FakeCatalog) Lookup(name string, version int, label string) (inference.Model, error) {
	vs, ok := c.Models[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	if version <= 0 && label != "" {
		v, ok := c.VersionLabels[name][label]
		if !ok {
			return nil, fmt.Errorf("%w: label %q of %q", inference.ErrVersionNotFound, label, name)
		}
		version = v
	}
	loading := false
	for _, v := range vs {
		if version > 0 && v.Status.Version != version {
			continue
		}
		switch v.Status.State {
		case inference.StateAvailable:
			return v.Model, nil
		case inference.StateLoading, inference.StateStart:
			loading = true
		}
		if version > 0 {
			break
		}
	}
	if loading {
		return nil, fmt.Errorf("%w: %q is loading", inference.ErrNotReady, name)
	}
	return nil, fmt.Errorf("%w: %q version %d", inference.ErrVersionNotFound, name, version)
}

// Versions lists name's versions, newest first.
func (c *FakeCatalog) Versions(name string) ([]inference.VersionStatus, error) {
	vs, ok := c.Models[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	out := make([]inference.VersionStatus, len(vs))
	for i, v := range vs {
		out[i] = v.Status
	}
	return out, nil
}

// Labels returns name's labels.
func (c *FakeCatalog) Labels(name string) (map[string]int, error) {
	if _, ok := c.Models[name]; !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	return c.VersionLabels[name], nil
}

var (
	_ inference.Catalog = (*FakeCatalog)(nil)
	_ inference.Model   = (*FakeModel)(nil)
)

// Digits are the labels of MNISTSignature.
var Digits = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// MNISTSignature is an image model's: 28×28 inputs, ten digit classes.
func MNISTSignature() inference.Signature {
	return inference.Signature{Kind: inference.KindImage, InputShape: []int{28, 28}, InputSize: 784, Labels: slices.Clone(Digits), Hash: "abc"}
}

// TextSignature is a text model's: two classes, "bad" and "good".
func TextSignature() inference.Signature {
	return inference.Signature{Kind: inference.KindText, InputSize: 16, Labels: []string{"bad", "good"}}
}

// NewCatalog returns the catalog the front-ends' tests share, and its
// models by key (mnist3, mnist2, sentiment, reg, busy, slow):
//
//	mnist      image 28×28, versions 3 and 2 available, 1 failed; labels stable=2, canary=3, gone=9
//	sentiment  text, version 1
//	loading    version 1 still loading
//	reg        image [2], one output (a regression), version 1
//	busy       overloaded, version 1
//	slow       Predict waits for its deadline, version 1
func NewCatalog() (*FakeCatalog, map[string]*FakeModel) {
	busy := NewFakeModel("busy", 1, TextSignature())
	busy.PredictErr = fmt.Errorf("queue full: %w", inference.ErrOverloaded)
	slow := NewFakeModel("slow", 1, TextSignature())
	slow.Block = true
	ms := map[string]*FakeModel{
		"mnist3":    NewFakeModel("mnist", 3, MNISTSignature()),
		"mnist2":    NewFakeModel("mnist", 2, MNISTSignature()),
		"sentiment": NewFakeModel("sentiment", 1, TextSignature()),
		"reg":       NewFakeModel("reg", 1, inference.Signature{Kind: inference.KindImage, InputShape: []int{2}, InputSize: 2, Labels: []string{"value"}}),
		"busy":      busy,
		"slow":      slow,
	}
	c := &FakeCatalog{
		Models: map[string][]FakeVersion{
			"mnist": {Available(ms["mnist3"]), Available(ms["mnist2"]),
				{Status: inference.VersionStatus{Version: 1, State: inference.StateEnd, Error: "read model: bad magic"}}},
			"sentiment": {Available(ms["sentiment"])},
			"loading":   {{Status: inference.VersionStatus{Version: 1, State: inference.StateLoading}}},
			"reg":       {Available(ms["reg"])},
			"busy":      {Available(ms["busy"])},
			"slow":      {Available(ms["slow"])},
		},
		VersionLabels: map[string]map[string]int{"mnist": {"stable": 2, "canary": 3, "gone": 9}},
	}
	return c, ms
}

// Image returns a 28×28 instance whose values sum to sum (one pixel set).
func Image(sum float64) [][]float64 {
	img := make([][]float64, 28)
	for i := range img {
		img[i] = make([]float64, 28)
	}
	img[0][0] = sum
	return img
}

// Flat returns the flat 784 form of Image(sum).
func Flat(sum float64) []float64 {
	x := make([]float64, 784)
	x[0] = sum
	return x
}

// Probs is the probabilities FakeModel gives class c of k, as a JSON
// answer writes them (float32 shortest decimals) and encoding/json reads
// them back into an any.
func Probs(k, c int) []any {
	out := make([]any, k)
	for j := range out {
		out[j] = F32(0.45 / float64(k-1))
	}
	out[c] = F32(0.55)
	return out
}

// F32 is x as a float32 written to JSON and read back.
func F32(x float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(float32(x)), 'g', -1, 32), 64)
	return f
}
