package nn

import (
	"fmt"
	"math"
)

// SetClassWeights makes TrainBatch scale each sample's gradient by the
// weight of its class (w[c] for class c; a binary model's classes are 0
// and 1), so that a rare class counts as much as a frequent one
// (scikit-learn's class_weight). The loss TrainBatch returns stays the
// plain mean, comparable across runs with and without weights. nil
// removes them.
func (m *Model) SetClassWeights(w []float32) error {
	if w == nil {
		m.classWeights = nil
		return nil
	}
	classes := max(m.outSize, 2)
	if len(w) != classes {
		return fmt.Errorf("nn: %d class weights for %d classes", len(w), classes)
	}
	for i, v := range w {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("nn: class %d weight %v, want a positive finite number", i, v)
		}
	}
	m.classWeights = append([]float32(nil), w...)
	return nil
}

// weighGradients scales each row of dlogits by its sample's class weight;
// samples whose label is not a class have no gradient to scale.
func (m *Model) weighGradients(y []float32, n int) {
	k := m.outSize
	for i := 0; i < n; i++ {
		c := label(y[i], len(m.classWeights))
		if c < 0 {
			continue
		}
		w := m.classWeights[c]
		for j := range m.dlogits[i*k : (i+1)*k] {
			m.dlogits[i*k+j] *= w
		}
	}
}

// BalancedClassWeights returns n / (classes · count) per class, the
// weights of scikit-learn's class_weight="balanced", from the labels y
// (class indices). A class absent from y gets weight 1.
func BalancedClassWeights(y []float32, classes int) []float32 {
	counts := make([]int, classes)
	total := 0
	for _, v := range y {
		if c := label(v, classes); c >= 0 {
			counts[c]++
			total++
		}
	}
	w := make([]float32, classes)
	for c, cnt := range counts {
		w[c] = 1
		if cnt > 0 {
			w[c] = float32(total) / float32(classes*cnt)
		}
	}
	return w
}
