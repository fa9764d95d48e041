package nn

import "testing"

func TestFootprint(t *testing.T) {
	for _, name := range PresetNames() {
		s := mustPreset(t, name, PresetOptions{Vocab: 1000, MaxLen: 20})
		f, err := s.Footprint()
		if err != nil {
			t.Fatal(err)
		}
		m := mustBuild(t, s, 1)
		if f.Params != m.NumParams() {
			t.Errorf("%s: footprint says %d params, the model has %d", name, f.Params, m.NumParams())
		}
		if f.Activations < m.OutputSize() {
			t.Errorf("%s: %d activations per sample", name, f.Activations)
		}
	}
	// A spec too large to build is weighed without being built.
	huge := Spec{Input: []int{1 << 20}, Layers: []LayerSpec{{Type: "dense", Units: 1 << 10}}}
	if _, err := huge.Footprint(); err == nil {
		t.Error("an over-limit spec has a footprint")
	}
}
