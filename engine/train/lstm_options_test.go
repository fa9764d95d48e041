package train

import (
	"strings"
	"testing"
)

// TestBuildModelWithLSTMOptions: --pooling and --bidirectional reach the
// lstm presets' LSTM; a preset without one and a spec file refuse them.
func TestBuildModelWithLSTMOptions(t *testing.T) {
	p := writeFile(t, "d.tsv", "label\ttext\nham\tHello there friend\nspam\tWIN cash now\nham\thello again\nham\tsee you soon\nspam\tfree cash prize\n")
	prep, err := PrepareData(DataOptions{Path: p, Holdout: 0.4, MaxLen: 4})
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildModelWith("lstm-text", prep, 1, ModelOptions{Pooling: "max", Directions: 2})
	if err != nil {
		t.Fatal(err)
	}
	if l := m.Spec().Layers[1]; l.Pooling != "max" || !l.Bidirectional {
		t.Errorf("lstm layer %+v", l)
	}
	if m, err := BuildModel("lstm-text", prep, 1); err != nil || m.Spec().Layers[1].Bidirectional || m.Spec().Layers[1].Pooling != "" {
		t.Errorf("default lstm-text: %+v, %v", m.Spec().Layers[1], err)
	}
	if _, err := BuildModelWith("text-ngram", prep, 1, ModelOptions{Pooling: "mean"}); err == nil || !strings.Contains(err.Error(), "no LSTM") {
		t.Errorf("text-ngram with pooling: %v", err)
	}
	spec := writeFile(t, "s.json", `{"input":[4],"layers":[{"type":"embedding","vocab":100,"dim":4},{"type":"lstm","units":4},{"type":"dense","units":1}]}`)
	if _, err := BuildModelWith(spec, prep, 1, ModelOptions{Directions: 2}); err == nil || !strings.Contains(err.Error(), "spec file") {
		t.Errorf("spec file with directions: %v", err)
	}
}
