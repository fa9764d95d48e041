package par_test

import (
	"fmt"

	"github.com/shoalmesh/shoal/engine/par"
)

// sum adds up a slice in parts, one partial sum per part.
type sum struct {
	xs       []float64
	partials [4]float64
}

func (s *sum) RunPart(i, n int) {
	lo, hi := par.Range(i, n, len(s.xs))
	for _, x := range s.xs[lo:hi] {
		s.partials[i] += x
	}
}

func ExampleDo() {
	s := &sum{xs: make([]float64, 1000)}
	for i := range s.xs {
		s.xs[i] = float64(i)
	}
	par.Do(4, s)
	fmt.Println(s.partials[0] + s.partials[1] + s.partials[2] + s.partials[3])
	// Output: 499500
}
