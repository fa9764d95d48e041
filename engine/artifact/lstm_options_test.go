package artifact_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/nn"
)

// TestLSTMOptionsRoundTrip: a bidirectional, mean-pooled LSTM saves and
// loads (float and int8) with its options and reverse weights, and gives
// the same bits after loading; a spec without the options (as every file
// written before them) still loads as last-step, one direction.
func TestLSTMOptionsRoundTrip(t *testing.T) {
	for _, l := range []nn.LayerSpec{
		{Type: "lstm", Units: 6, Pooling: "mean", Bidirectional: true},
		{Type: "lstm", Units: 6}, // the old layout
	} {
		s := nn.Spec{Input: []int{7}, Layers: []nn.LayerSpec{{Type: "embedding", Vocab: 20, Dim: 4}, l, {Type: "dense", Units: 1}}}
		m, err := nn.Build(s, 2)
		if err != nil {
			t.Fatal(err)
		}
		a, err := artifact.New(m, artifact.KindImage, []string{"no", "yes"}, nil, artifact.Provenance{})
		if err != nil {
			t.Fatal(err)
		}
		q, err := a.Quantize(nn.QuantizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		x := []float32{3, 4, 5, 0, 0, 0, 0, 9, 8, 7, 6, 5, 4, 3}
		for _, src := range []*artifact.Artifact{a, q} {
			path := filepath.Join(t.TempDir(), "m.safetensors")
			if _, err := src.Save(path); err != nil {
				t.Fatal(err)
			}
			b, err := artifact.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := b.Model.Spec().Layers[1]
			if got.Pooling != l.Pooling || got.Bidirectional != l.Bidirectional {
				t.Fatalf("loaded lstm %+v, saved %+v", got, l)
			}
			reverse := false
			for _, st := range b.Stored {
				reverse = reverse || strings.Contains(st.Name, ".reverse.")
			}
			if reverse != l.Bidirectional {
				t.Fatalf("reverse tensors stored: %v, bidirectional %v", reverse, l.Bidirectional)
			}
			want := append([]float32(nil), src.Model.Forward(x, 2)...)
			for i, v := range b.Model.Forward(x, 2) {
				if math.Float32bits(v) != math.Float32bits(want[i]) {
					t.Fatalf("quantized %v: output %d is %v after loading, %v before", src.Model.Quantized(), i, v, want[i])
				}
			}
		}
	}
}
