package tfserving

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

// fakeModel predicts deterministically from its input: a text's class is
// its length in runes, an image's the rounded sum of its values, both
// modulo the number of classes; the class gets probability 0.55 and the
// others share the rest. A model with one label answers the sum itself as
// its only output (a regression).
type fakeModel struct {
	name    string
	version int
	sig     inference.Signature
	// predictErr, when set, is what Predict returns.
	predictErr error
	// block makes Predict wait for its context to end.
	block bool

	mu      sync.Mutex
	checked int                 // inputs passed to Check
	batches [][]inference.Input // inputs passed to Predict
}

func (m *fakeModel) Name() string                   { return m.name }
func (m *fakeModel) Version() int                   { return m.version }
func (m *fakeModel) Signature() inference.Signature { return m.sig }

func (m *fakeModel) Check(in inference.Input) error {
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

func (m *fakeModel) Predict(ctx context.Context, inputs []inference.Input) ([]inference.Prediction, error) {
	m.mu.Lock()
	m.batches = append(m.batches, slices.Clone(inputs))
	m.mu.Unlock()
	if m.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if m.predictErr != nil {
		return nil, m.predictErr
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

// fakeVersion is one version a fakeCatalog knows; model is nil unless it
// is AVAILABLE.
type fakeVersion struct {
	status inference.VersionStatus
	model  *fakeModel
}

// fakeCatalog follows the inference.Catalog contract over fixed versions.
type fakeCatalog struct {
	versions map[string][]fakeVersion // newest first
	labels   map[string]map[string]int
}

func (c *fakeCatalog) Names() []string {
	var names []string
	for n := range c.versions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (c *fakeCatalog) Lookup(name string, version int, label string) (inference.Model, error) {
	vs, ok := c.versions[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	if version <= 0 && label != "" {
		v, ok := c.labels[name][label]
		if !ok {
			return nil, fmt.Errorf("%w: label %q of %q", inference.ErrVersionNotFound, label, name)
		}
		version = v
	}
	loading := false
	for _, v := range vs {
		if version > 0 && v.status.Version != version {
			continue
		}
		switch v.status.State {
		case inference.StateAvailable:
			return v.model, nil
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

func (c *fakeCatalog) Versions(name string) ([]inference.VersionStatus, error) {
	vs, ok := c.versions[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	out := make([]inference.VersionStatus, len(vs))
	for i, v := range vs {
		out[i] = v.status
	}
	return out, nil
}

func (c *fakeCatalog) Labels(name string) (map[string]int, error) {
	if _, ok := c.versions[name]; !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	return c.labels[name], nil
}

var digits = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

func mnistSig() inference.Signature {
	return inference.Signature{Kind: inference.KindImage, InputShape: []int{28, 28}, InputSize: 784, Labels: digits, Hash: "abc"}
}

func textSig() inference.Signature {
	return inference.Signature{Kind: inference.KindText, InputSize: 16, Labels: []string{"bad", "good"}}
}

func available(m *fakeModel) fakeVersion {
	return fakeVersion{status: inference.VersionStatus{Version: m.version, State: inference.StateAvailable}, model: m}
}

// testCatalog holds:
//
//	mnist      image 28×28, versions 3 and 2 available, 1 failed; labels stable=2, canary=3, gone=9
//	sentiment  text, version 1
//	loading    version 1 still loading
//	reg        image [2], one output (a regression), version 1
//	busy       overloaded, version 1
//	slow       Predict waits for its deadline, version 1
func testCatalog() (*fakeCatalog, map[string]*fakeModel) {
	ms := map[string]*fakeModel{
		"mnist3":    {name: "mnist", version: 3, sig: mnistSig()},
		"mnist2":    {name: "mnist", version: 2, sig: mnistSig()},
		"sentiment": {name: "sentiment", version: 1, sig: textSig()},
		"reg":       {name: "reg", version: 1, sig: inference.Signature{Kind: inference.KindImage, InputShape: []int{2}, InputSize: 2, Labels: []string{"value"}}},
		"busy":      {name: "busy", version: 1, sig: textSig(), predictErr: fmt.Errorf("queue full: %w", inference.ErrOverloaded)},
		"slow":      {name: "slow", version: 1, sig: textSig(), block: true},
	}
	c := &fakeCatalog{
		versions: map[string][]fakeVersion{
			"mnist": {available(ms["mnist3"]), available(ms["mnist2"]),
				{status: inference.VersionStatus{Version: 1, State: inference.StateEnd, Error: "read model: bad magic"}}},
			"sentiment": {available(ms["sentiment"])},
			"loading":   {{status: inference.VersionStatus{Version: 1, State: inference.StateLoading}}},
			"reg":       {available(ms["reg"])},
			"busy":      {available(ms["busy"])},
			"slow":      {available(ms["slow"])},
		},
		labels: map[string]map[string]int{"mnist": {"stable": 2, "canary": 3, "gone": 9}},
	}
	return c, ms
}

// image returns a 28×28 instance whose values sum to sum (one pixel set).
func image(sum float64) [][]float64 {
	img := make([][]float64, 28)
	for i := range img {
		img[i] = make([]float64, 28)
	}
	img[0][0] = sum
	return img
}

// flat returns the flat 784 form of image(sum).
func flat(sum float64) []float64 {
	x := make([]float64, 784)
	x[0] = sum
	return x
}

// probs is the probabilities fakeModel gives class c of k, as the JSON
// answer writes them (float32 shortest decimals).
func probs(k, c int) []any {
	out := make([]any, k)
	for j := range out {
		out[j] = f32(0.45 / float64(k-1))
	}
	out[c] = f32(0.55)
	return out
}

// f32 is x as a float32 written to JSON and read back.
func f32(x float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(float32(x)), 'g', -1, 32), 64)
	return f
}

func itoa(i int) string { return strconv.Itoa(i) }
