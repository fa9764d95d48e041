// Package prune zeroes the weights of smallest magnitude in a float model
// (magnitude pruning, Han et al. 2015), tensor by tensor, and keeps them
// zero while the model is fine-tuned. Biases are left alone: they are few
// and each shifts a whole unit.
package prune

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoalmesh/shoal/engine/nn"
)

// Mask records which parameters are pruned, as offsets into Model.Params.
type Mask struct {
	zero []int
}

// isWeight tells the weight tensors (kernels, recurrent kernels,
// embedding tables) from biases by the name nn gives them.
func isWeight(name string) bool {
	for _, s := range []string{".kernel", ".recurrent", ".weight"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// Magnitude zeroes, in each weight tensor of m, the fraction sparsity
// (in [0, 1)) of its values with the smallest magnitude, and returns the
// mask. Ties at the threshold are cut in index order, so exactly
// floor(sparsity·size) values of each tensor become zero.
func Magnitude(m *nn.Model, sparsity float64) (*Mask, error) {
	if !(sparsity >= 0 && sparsity < 1) {
		return nil, fmt.Errorf("prune: sparsity must be in [0, 1), got %v", sparsity)
	}
	if m.Quantized() {
		return nil, fmt.Errorf("prune: the model is int8; prune the float model, then quantize")
	}
	params := m.Params()
	mk := &Mask{}
	off := 0
	for _, t := range m.Tensors() {
		n := len(t.Data)
		if isWeight(t.Name) {
			cut := int(sparsity * float64(n))
			idx := make([]int, n)
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int {
				x, y := abs(t.Data[a]), abs(t.Data[b])
				switch {
				case x < y:
					return -1
				case x > y:
					return 1
				}
				return 0
			})
			for _, i := range idx[:cut] {
				mk.zero = append(mk.zero, off+i)
			}
		}
		off += n
	}
	if off != len(params) {
		return nil, fmt.Errorf("prune: tensors cover %d of %d parameters", off, len(params))
	}
	slices.Sort(mk.zero)
	mk.Apply(params)
	return mk, nil
}

// Apply zeroes the masked parameters of params (after an optimizer step).
func (mk *Mask) Apply(params []float32) {
	for _, i := range mk.zero {
		params[i] = 0
	}
}

// Pruned is the number of parameters the mask zeroes.
func (mk *Mask) Pruned() int { return len(mk.zero) }

func abs(x float32) float32 { return max(x, -x) }
