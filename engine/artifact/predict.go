package artifact

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/shoalmesh/shoal/engine/nn"
)

// Prediction is the model's answer for one input.
type Prediction struct {
	Label string `json:"label"`
	Class int    `json:"class"`
	// Probability is the probability of Label.
	Probability float64 `json:"probability"`
	// Probabilities has one entry per class, in the order of the labels.
	Probabilities []float64 `json:"probabilities"`
}

// MaxBatch bounds the inputs of one Predict call.
const MaxBatch = 1 << 16

// PredictTexts predicts the class of each text (text models only).
func (a *Artifact) PredictTexts(texts []string) ([]Prediction, error) {
	in := make([]any, len(texts))
	for i, t := range texts {
		in[i] = t
	}
	return a.Predict(in)
}

// PredictVectors predicts the class of each numeric input. Each must have
// Model.InputSize() values (784 pixels in [0,1] for MNIST; token ids for a
// text model).
func (a *Artifact) PredictVectors(xs [][]float32) ([]Prediction, error) {
	in := make([]any, len(xs))
	for i, x := range xs {
		in[i] = x
	}
	return a.Predict(in)
}

// Predict predicts the class of each input. An input is a string (text
// models) or a numeric vector: []float32, []float64, or []any of numbers as
// encoding/json decodes an array (json.Number too). It is safe for
// concurrent use.
func (a *Artifact) Predict(inputs []any) ([]Prediction, error) {
	n := len(inputs)
	if n == 0 {
		return nil, nil
	}
	if n > MaxBatch {
		return nil, fmt.Errorf("%d inputs, at most %d at once", n, MaxBatch)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in := a.Model.InputSize()
	if cap(a.x) < n*in {
		a.x = make([]float32, n*in)
	}
	x := a.x[:n*in]
	for i, v := range inputs {
		if err := a.fill(x[i*in:(i+1)*in], v); err != nil {
			return nil, fmt.Errorf("input %d: %w", i+1, err)
		}
	}
	k := a.Model.OutputSize()
	logits := a.Model.Forward(x, n)
	if cap(a.probs) < n*k {
		a.probs = make([]float32, n*k)
	}
	p := a.probs[:n*k]
	nn.Probabilities(logits, n, k, p)
	out := make([]Prediction, n)
	for i := range out {
		var probs []float64
		if k == 1 {
			q := float64(p[i])
			probs = []float64{1 - q, q}
		} else {
			probs = make([]float64, k)
			for j := range probs {
				probs[j] = float64(p[i*k+j])
			}
		}
		best := 0
		for j, q := range probs {
			if q > probs[best] {
				best = j
			}
		}
		out[i] = Prediction{Label: a.Labels[best], Class: best, Probability: probs[best], Probabilities: probs}
	}
	return out, nil
}

// CheckInput reports whether v is an input Predict accepts, with the error
// Predict would give for it (without the "input N" prefix): a wrong length
// names the size the model takes, NaN and infinities are refused, and so
// are token ids outside a text model's vocabulary. Any string is a valid
// input of a text model. It takes no lock, so a server can check each
// request on its own, in parallel, before joining it to a batch with
// others; it is safe for concurrent use.
func (a *Artifact) CheckInput(v any) error {
	if _, ok := v.(string); ok && a.Encoder != nil {
		return nil // every text encodes
	}
	in := a.Model.InputSize()
	bp, _ := a.scratch.Get().(*[]float32)
	if bp == nil || cap(*bp) < in {
		b := make([]float32, in)
		bp = &b
	}
	err := a.fill((*bp)[:in], v)
	a.scratch.Put(bp)
	return err
}

// fill writes one input into dst.
func (a *Artifact) fill(dst []float32, v any) error {
	if s, ok := v.(string); ok {
		if a.Encoder == nil {
			return fmt.Errorf("this %s model takes a vector of %d numbers, not text", a.Kind, len(dst))
		}
		a.Encoder.Encode(s, dst)
		return nil
	}
	var n int
	switch t := v.(type) {
	case []float32:
		n = len(t)
		if n == len(dst) {
			copy(dst, t)
		}
	case []float64:
		n = len(t)
		if n == len(dst) {
			for i, f := range t {
				dst[i] = float32(f)
			}
		}
	case []any:
		n = len(t)
		if n == len(dst) {
			for i, e := range t {
				f, err := number(e)
				if err != nil {
					return fmt.Errorf("value %d: %w", i+1, err)
				}
				dst[i] = float32(f)
			}
		}
	default:
		return fmt.Errorf("want text or an array of numbers, got %T", v)
	}
	if n != len(dst) {
		return fmt.Errorf("the model takes %d numbers, got %d", len(dst), n)
	}
	for i, f := range dst {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("value %d is not a finite number", i+1)
		}
	}
	if a.Kind == KindText {
		// Token ids index the embedding: check them so a bad id is an
		// error here, not a panic in the layer.
		limit := vocabOf(a.Model.Spec())
		for i, f := range dst {
			if f != float32(int(f)) || f < 0 || int(f) >= limit {
				return fmt.Errorf("value %d (%g) is not a token id in 0..%d", i+1, f, limit-1)
			}
		}
	}
	return nil
}

func number(e any) (float64, error) {
	switch t := e.(type) {
	case float64:
		return t, nil
	case float32:
		return float64(t), nil
	case int:
		return float64(t), nil
	case json.Number:
		return t.Float64()
	}
	return 0, fmt.Errorf("not a number: %T", e)
}
