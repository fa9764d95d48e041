package nn

import (
	"math"
	"testing"
)

// TestClassWeights: a weight scales exactly its class's share of the
// gradient, the returned loss is unchanged, and bad weights are refused.
func TestClassWeights(t *testing.T) {
	for _, spec := range []Spec{
		{Input: []int{3}, Layers: []LayerSpec{{Type: "dense", Units: 3}}},
		{Input: []int{3}, Layers: []LayerSpec{{Type: "dense", Units: 1}}},
	} {
		x := []float32{0.5, -1, 2, 1, 0, -0.5}
		y := []float32{1, 0}
		grads := func(w []float32, onlyFirst bool) ([]float32, float32) {
			m := mustBuild(t, spec, 3)
			if err := m.SetClassWeights(w); err != nil {
				t.Fatal(err)
			}
			n := 2
			if onlyFirst {
				n = 1
			}
			loss := m.TrainBatch(x, y, n)
			return append([]float32(nil), m.Grads()...), loss
		}
		plain, loss := grads(nil, false)
		// Sample 0 is class 1: weight 3 there adds twice its own gradient.
		weighted, wloss := grads([]float32{1, 3, 1}[:max(mustBuild(t, spec, 3).OutputSize(), 2)], false)
		first, _ := grads(nil, true)
		if wloss != loss {
			t.Errorf("loss %v with weights, %v without", wloss, loss)
		}
		for i := range plain {
			// With n=2 the mean halves each sample's gradient; first is
			// sample 0 alone (n=1), so its share in the batch is first/2.
			want := plain[i] + 2*first[i]/2
			if math.Abs(float64(weighted[i]-want)) > 1e-5 {
				t.Fatalf("%v outputs: grad %d = %v, want %v", spec.Layers[0].Units, i, weighted[i], want)
			}
		}
	}
	m := mustBuild(t, Spec{Input: []int{3}, Layers: []LayerSpec{{Type: "dense", Units: 3}}}, 1)
	for _, w := range [][]float32{{1, 1}, {1, 0, 1}, {1, float32(math.NaN()), 1}, {1, float32(math.Inf(1)), 1}} {
		if err := m.SetClassWeights(w); err == nil {
			t.Errorf("weights %v accepted", w)
		}
	}
	if got := BalancedClassWeights([]float32{0, 0, 0, 1, 7}, 3); got[0] != 4.0/9 || got[1] != 4.0/3 || got[2] != 1 {
		t.Errorf("balanced weights %v, want [4/9 4/3 1]", got)
	}
}
