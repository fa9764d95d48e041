package data

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
)

// Dataset holds N samples as flat row-major float32, batch first.
// Token ids of text samples are stored as float32 values (engine/nn's
// convention); Y holds the class index as a float (0/1 for binary tasks).
type Dataset struct {
	X           []float32 // N * SampleSize() values
	Y           []float32 // N labels: class index as float32
	N           int
	SampleShape []int    // per-sample shape: [1,28,28] for MNIST (C,H,W), [maxLen] for text
	Labels      []string // class names, index = Y value
	Texts       []string // raw texts of text data (nil otherwise)
	Lengths     []int    // real token counts of text samples before padding (nil otherwise)
	// Truncated counts the text samples that had more ids than fit
	// (SampleShape[0]) and lost their end.
	Truncated int
}

// SampleSize is the number of float32 values per sample.
func (d *Dataset) SampleSize() int {
	n := 1
	for _, s := range d.SampleShape {
		n *= s
	}
	return n
}

// NumClasses is len(Labels).
func (d *Dataset) NumClasses() int { return len(d.Labels) }

// Validate checks that the slices agree with N, SampleShape and Labels.
func (d *Dataset) Validate() error {
	ss := d.SampleSize()
	switch {
	case d.N < 0:
		return fmt.Errorf("data: negative N %d", d.N)
	case len(d.X) != d.N*ss:
		return fmt.Errorf("data: X has %d values, want N*SampleSize = %d*%d", len(d.X), d.N, ss)
	case len(d.Y) != d.N:
		return fmt.Errorf("data: Y has %d labels, want N = %d", len(d.Y), d.N)
	case d.Texts != nil && len(d.Texts) != d.N:
		return fmt.Errorf("data: Texts has %d entries, want N = %d", len(d.Texts), d.N)
	case d.Lengths != nil && len(d.Lengths) != d.N:
		return fmt.Errorf("data: Lengths has %d entries, want N = %d", len(d.Lengths), d.N)
	}
	for i, y := range d.Y {
		if y != float32(int(y)) || y < 0 || int(y) >= len(d.Labels) {
			return fmt.Errorf("data: sample %d has label %v, want an integer in [0,%d)", i, y, len(d.Labels))
		}
	}
	return nil
}

// Slice returns samples [i,j) as a Dataset sharing d's memory (no copy).
// SampleShape and Labels are shared too; treat them as read-only.
func (d *Dataset) Slice(i, j int) *Dataset {
	if i < 0 || j < i || j > d.N {
		panic(fmt.Sprintf("data: Slice(%d, %d) out of range [0,%d]", i, j, d.N))
	}
	ss := d.SampleSize()
	s := &Dataset{
		X:           d.X[i*ss : j*ss : j*ss],
		Y:           d.Y[i:j:j],
		N:           j - i,
		SampleShape: d.SampleShape,
		Labels:      d.Labels,
	}
	if d.Texts != nil {
		s.Texts = d.Texts[i:j:j]
	}
	if d.Lengths != nil {
		s.Lengths = d.Lengths[i:j:j]
	}
	return s
}

// Batch copies the samples idx[0], idx[1], ... into x (len(idx)*SampleSize()
// values) and their labels into y (len(idx) values). It allocates nothing, so
// a training loop can reuse the same buffers every step. It panics, like a
// slice index, if a buffer is too short or an index is out of range.
func (d *Dataset) Batch(idx []int, x, y []float32) {
	ss := d.SampleSize()
	x = x[:len(idx)*ss]
	y = y[:len(idx)]
	for b, i := range idx {
		copy(x[b*ss:(b+1)*ss], d.X[i*ss:(i+1)*ss])
		y[b] = d.Y[i]
	}
}

// SplitHoldout returns how many leading rows train when the last frac of n
// rows (in file order) is the test set: int(n*(1-frac)), the cut of the
// PyTorch reference (int(len(rows)*0.8) for frac 0.2). frac <= 0 keeps every
// row for training; frac >= 1 keeps none.
func SplitHoldout(n int, frac float64) (trainN int) {
	if frac <= 0 {
		return n
	}
	if frac >= 1 {
		return 0
	}
	return int(float64(n) * (1 - frac))
}

// LabelSet returns the distinct labels in a stable order: numerically when
// every label is an integer ("2" before "10"), otherwise sorted as strings
// (so "ham","spam": spam = 1, as in the PyTorch reference).
func LabelSet(rows []TextRow) []string {
	seen := make(map[string]bool)
	var out []string
	for _, r := range rows {
		if !seen[r.Label] {
			seen[r.Label] = true
			out = append(out, r.Label)
		}
	}
	numeric := true
	for _, l := range out {
		if _, err := strconv.Atoi(l); err != nil {
			numeric = false
			break
		}
	}
	if numeric {
		slices.SortFunc(out, func(a, b string) int {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			return cmp.Compare(x, y)
		})
	} else {
		slices.Sort(out)
	}
	return out
}
