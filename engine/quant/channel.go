package quant

import (
	"errors"
	"fmt"
)

// A weight matrix is quantized per output channel (one scale per output
// unit, as TFLite and PyTorch do): a channel whose weights are all small
// keeps its resolution instead of sharing the scale of the largest one.
// Which axis holds the channels depends on the layer's layout, so both
// are here.

// ErrNonFinite is returned for weights holding NaN or an infinity.
var ErrNonFinite = errors.New("quant: weight is NaN or infinite")

// PerColumn quantizes the rows×cols row-major matrix w with one scale per
// column (a dense or LSTM kernel [in, out]: a column is an output unit).
// It returns the codes (same layout) and the scales.
func PerColumn(w []float32, rows, cols int) ([]int8, []float32, error) {
	if err := checkShape(w, rows, cols); err != nil {
		return nil, nil, err
	}
	scales := make([]float32, cols)
	for r := 0; r < rows; r++ {
		row := w[r*cols : (r+1)*cols]
		if _, ok := MaxAbs(row); !ok {
			return nil, nil, fmt.Errorf("%w (row %d)", ErrNonFinite, r)
		}
		for j, v := range row {
			if a := max(v, -v); a > scales[j] {
				scales[j] = a
			}
		}
	}
	for j := range scales {
		scales[j] = Scale(scales[j])
	}
	q := make([]int8, len(w))
	for r := 0; r < rows; r++ {
		for j, v := range w[r*cols : (r+1)*cols] {
			q[r*cols+j] = Round(v, scales[j])
		}
	}
	return q, scales, nil
}

// PerRow quantizes w with one scale per row (a conv kernel [F, C·K·K] or
// an embedding table [vocab, dim]: a row is an output filter or a token).
func PerRow(w []float32, rows, cols int) ([]int8, []float32, error) {
	if err := checkShape(w, rows, cols); err != nil {
		return nil, nil, err
	}
	scales := make([]float32, rows)
	q := make([]int8, len(w))
	for r := 0; r < rows; r++ {
		s := Symmetric(q[r*cols:(r+1)*cols], w[r*cols:(r+1)*cols])
		if s != s {
			return nil, nil, fmt.Errorf("%w (row %d)", ErrNonFinite, r)
		}
		scales[r] = s
	}
	return q, scales, nil
}

func checkShape(w []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || (cols > 0 && rows > len(w)/cols) || rows*cols != len(w) {
		return fmt.Errorf("quant: %d values are not a %d×%d matrix", len(w), rows, cols)
	}
	return nil
}
