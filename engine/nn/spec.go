package nn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/shoalmesh/shoal/engine/jsonx"
)

// Limits on specs. A spec may come from another peer, so it is bounded in
// bytes, depth and in the memory a model built from it may take.
const (
	MaxSpecBytes  = 1 << 20 // bytes of JSON/YAML accepted by ParseSpec
	MaxLayers     = 256
	MaxParams     = 1 << 27 // float32 parameters (512 MiB)
	MaxSampleSize = 1 << 24 // floats per sample at any layer's output
	maxDim        = 1 << 20 // any single dimension, unit count, vocabulary size
)

// Loss names.
const (
	LossSoftmaxCE = "softmax_cross_entropy"
	LossBinaryCE  = "binary_cross_entropy"
)

// Spec describes a model like a Keras Sequential one. Input is the shape of
// one sample: [784], [1,28,28] (C,H,W) or [50] (token ids).
type Spec struct {
	Name   string      `json:"name,omitempty" yaml:"name,omitempty"`
	Input  []int       `json:"input" yaml:"input"`
	Layers []LayerSpec `json:"layers" yaml:"layers"`
	Loss   string      `json:"loss,omitempty" yaml:"loss,omitempty"`
}

// LayerSpec is one layer. Which fields matter depends on Type:
//
//	dense      units, activation
//	embedding  vocab, dim, padding_id (must be the first layer; input = token ids)
//	embedding_bag  as embedding, then the mean over the real ids: [dim]
//	lstm       units, return_sequences, pooling, bidirectional
//	conv2d     filters, kernel, stride (1), pad (0), activation
//	maxpool2d  pool, stride (= pool)
//	flatten, relu, tanh, sigmoid, softmax (softmax: over the last axis)
//	dropout    rate in [0,1)
//
// Activation is one of "", "linear", "relu", "tanh", "sigmoid", "softmax".
//
// An lstm without return_sequences outputs, per sample, its hidden state
// at the last real (non-padding) step (pooling "" or "last"), or the mean
// or the per-unit maximum over the real steps ("mean", "max"). With
// bidirectional a second LSTM reads each sample's real steps backwards and
// the output is both, pooled the same way: [forward units, reverse units].
type LayerSpec struct {
	Type            string  `json:"type" yaml:"type"`
	Units           int     `json:"units,omitempty" yaml:"units,omitempty"`
	Vocab           int     `json:"vocab,omitempty" yaml:"vocab,omitempty"`
	Dim             int     `json:"dim,omitempty" yaml:"dim,omitempty"`
	PaddingID       int     `json:"padding_id,omitempty" yaml:"padding_id,omitempty"`
	Filters         int     `json:"filters,omitempty" yaml:"filters,omitempty"`
	Kernel          int     `json:"kernel,omitempty" yaml:"kernel,omitempty"`
	Stride          int     `json:"stride,omitempty" yaml:"stride,omitempty"`
	Pad             int     `json:"pad,omitempty" yaml:"pad,omitempty"`
	Pool            int     `json:"pool,omitempty" yaml:"pool,omitempty"`
	Rate            float64 `json:"rate,omitempty" yaml:"rate,omitempty"`
	Activation      string  `json:"activation,omitempty" yaml:"activation,omitempty"`
	ReturnSequences bool    `json:"return_sequences,omitempty" yaml:"return_sequences,omitempty"`
	Pooling         string  `json:"pooling,omitempty" yaml:"pooling,omitempty"`
	Bidirectional   bool    `json:"bidirectional,omitempty" yaml:"bidirectional,omitempty"`
}

// ParseSpec decodes a spec from JSON (when the first non-space byte is '{')
// or YAML, rejecting unknown fields, trailing documents and specs over
// MaxSpecBytes, and validates it (shapes, sizes, loss).
func ParseSpec(data []byte) (Spec, error) {
	var s Spec
	if len(data) > MaxSpecBytes {
		return s, fmt.Errorf("model spec: %d bytes is over the %d byte limit", len(data), MaxSpecBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return s, errors.New("model spec: empty")
	}
	if trimmed[0] == '{' {
		if err := jsonx.DecodeStrict(trimmed, &s); err != nil {
			return Spec{}, fmt.Errorf("model spec (JSON): %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&s); err != nil {
			return Spec{}, fmt.Errorf("model spec (YAML): %w", err)
		}
		var extra any
		if err := dec.Decode(&extra); err != io.EOF {
			return Spec{}, errors.New("model spec (YAML): more than one document")
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// Validate checks the spec: layer types and fields, shapes through the
// network, size limits and the loss. Errors name the layer.
func (s Spec) Validate() error {
	_, err := s.plan()
	return err
}

// planned is the result of shape inference: per layer its input and output
// shapes and parameter count, plus the resolved loss.
type planned struct {
	in, out [][]int
	params  int
	loss    string
}

// mulSat multiplies positive sizes, saturating at 2^47 (2^30 on 32-bit) so
// that hostile specs cannot overflow int.
func mulSat(xs ...int) int {
	const limit = min(1<<47, math.MaxInt/2) // 2^30 where int is 32 bits (linux/arm)
	p := 1
	for _, x := range xs {
		if x > 0 && p > limit/x {
			return limit
		}
		p *= x
	}
	return p
}

func prod(s []int) int { return mulSat(s...) }

var activations = map[string]bool{"": true, "linear": true, "relu": true, "tanh": true, "sigmoid": true, "softmax": true}

func (s Spec) plan() (*planned, error) {
	if len(s.Input) == 0 {
		return nil, errors.New("model spec: input shape is missing (e.g. input: [784])")
	}
	if len(s.Input) > 3 {
		return nil, fmt.Errorf("model spec: input shape %v has %d dimensions, at most 3 (C,H,W)", s.Input, len(s.Input))
	}
	size := 1
	for _, d := range s.Input {
		if d <= 0 || d > maxDim {
			return nil, fmt.Errorf("model spec: input shape %v: each dimension must be in 1..%d", s.Input, maxDim)
		}
		size *= d
		if size > MaxSampleSize {
			return nil, fmt.Errorf("model spec: input shape %v is over %d floats per sample", s.Input, MaxSampleSize)
		}
	}
	if len(s.Layers) == 0 {
		return nil, errors.New("model spec: no layers")
	}
	if len(s.Layers) > MaxLayers {
		return nil, fmt.Errorf("model spec: %d layers, at most %d", len(s.Layers), MaxLayers)
	}
	p := &planned{}
	shape := append([]int(nil), s.Input...)
	for i, l := range s.Layers {
		where := fmt.Sprintf("model spec: layer %d (%s)", i, l.Type)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, a...))
		}
		pos := func(name string, v int) error {
			if v <= 0 || v > maxDim {
				return bad("%s must be in 1..%d, got %d", name, maxDim, v)
			}
			return nil
		}
		if !activations[l.Activation] {
			return nil, bad("unknown activation %q (want linear, relu, tanh, sigmoid or softmax)", l.Activation)
		}
		if l.Activation != "" && l.Type != "dense" && l.Type != "conv2d" {
			return nil, bad("activation is only allowed on dense and conv2d (use a separate activation layer)")
		}
		if l.Activation == "softmax" && l.Type == "conv2d" {
			return nil, bad("softmax over a feature map's rows means nothing; flatten first and use a softmax layer")
		}
		if l.Rate != 0 && l.Type != "dropout" {
			return nil, bad("rate is only for dropout")
		}
		if l.ReturnSequences && l.Type != "lstm" {
			return nil, bad("return_sequences is only for lstm")
		}
		if (l.Pooling != "" || l.Bidirectional) && l.Type != "lstm" {
			return nil, bad("pooling and bidirectional are only for lstm")
		}
		if l.Pooling != "" && l.Pooling != "last" && l.Pooling != "mean" && l.Pooling != "max" {
			return nil, bad("unknown pooling %q (want last, mean or max)", l.Pooling)
		}
		if l.ReturnSequences && (l.Pooling != "" || l.Bidirectional) {
			return nil, bad("pooling and bidirectional need an lstm without return_sequences (it outputs every step)")
		}
		var out []int
		np := 0
		switch l.Type {
		case "dense":
			if err := pos("units", l.Units); err != nil {
				return nil, err
			}
			in := shape[len(shape)-1]
			out = append(append([]int(nil), shape[:len(shape)-1]...), l.Units)
			np = in*l.Units + l.Units
		case "embedding", "embedding_bag":
			if i != 0 {
				return nil, bad("%s must be the first layer (its input is token ids)", l.Type)
			}
			if len(shape) != 1 {
				return nil, bad("input must be 1-D token ids ([max_len]), got %v", shape)
			}
			if err := pos("vocab", l.Vocab); err != nil {
				return nil, err
			}
			if err := pos("dim", l.Dim); err != nil {
				return nil, err
			}
			if l.PaddingID < 0 || l.PaddingID >= l.Vocab {
				return nil, bad("padding_id %d is outside 0..%d", l.PaddingID, l.Vocab-1)
			}
			out = []int{shape[0], l.Dim}
			if l.Type == "embedding_bag" {
				out = []int{l.Dim} // the mean over the ids
			}
			np = l.Vocab * l.Dim
		case "lstm":
			if err := pos("units", l.Units); err != nil {
				return nil, err
			}
			if len(shape) != 2 {
				return nil, bad("input must be a sequence [steps, features], got %v", shape)
			}
			dirs := 1
			if l.Bidirectional {
				dirs = 2
			}
			if l.ReturnSequences {
				out = []int{shape[0], l.Units}
			} else {
				out = []int{dirs * l.Units}
			}
			np = dirs * (4*l.Units*(shape[1]+l.Units) + 4*l.Units)
			if mulSat(dirs, shape[0], 4, l.Units) > MaxSampleSize {
				return nil, bad("its gate activations would be over %d floats per sample", MaxSampleSize)
			}
		case "conv2d":
			if len(shape) != 3 {
				return nil, bad("input must be [channels, height, width], got %v", shape)
			}
			if err := pos("filters", l.Filters); err != nil {
				return nil, err
			}
			if err := pos("kernel", l.Kernel); err != nil {
				return nil, err
			}
			stride := l.Stride
			if stride == 0 {
				stride = 1
			}
			if err := pos("stride", stride); err != nil {
				return nil, err
			}
			if l.Pad < 0 || l.Pad >= l.Kernel {
				return nil, bad("pad must be in 0..kernel-1 (%d), got %d", l.Kernel-1, l.Pad)
			}
			ho := (shape[1]+2*l.Pad-l.Kernel)/stride + 1
			wo := (shape[2]+2*l.Pad-l.Kernel)/stride + 1
			if shape[1]+2*l.Pad < l.Kernel || shape[2]+2*l.Pad < l.Kernel {
				return nil, bad("kernel %d is larger than the padded input %v", l.Kernel, shape)
			}
			out = []int{l.Filters, ho, wo}
			if mulSat(ho, wo, shape[0], l.Kernel, l.Kernel) > MaxSampleSize {
				return nil, bad("its im2col matrix would be over %d floats per sample", MaxSampleSize)
			}
			np = mulSat(l.Filters, shape[0], l.Kernel, l.Kernel) + l.Filters
		case "maxpool2d":
			if len(shape) != 3 {
				return nil, bad("input must be [channels, height, width], got %v", shape)
			}
			if err := pos("pool", l.Pool); err != nil {
				return nil, err
			}
			stride := l.Stride
			if stride == 0 {
				stride = l.Pool
			}
			if err := pos("stride", stride); err != nil {
				return nil, err
			}
			if l.Pool > shape[1] || l.Pool > shape[2] {
				return nil, bad("pool %d is larger than the input %v", l.Pool, shape)
			}
			out = []int{shape[0], (shape[1]-l.Pool)/stride + 1, (shape[2]-l.Pool)/stride + 1}
		case "flatten":
			out = []int{prod(shape)}
		case "dropout":
			if !(l.Rate >= 0 && l.Rate < 1) {
				return nil, bad("rate must be in [0,1), got %v", l.Rate)
			}
			out = shape
		case "relu", "tanh", "sigmoid", "softmax":
			out = shape
		case "":
			return nil, bad("type is missing")
		default:
			return nil, bad("unknown type %q (want dense, embedding, embedding_bag, lstm, conv2d, maxpool2d, flatten, dropout, relu, tanh, sigmoid or softmax)", l.Type)
		}
		if l.Type != "embedding" && l.Type != "embedding_bag" && l.Vocab != 0 {
			return nil, bad("vocab is only for embedding and embedding_bag")
		}
		if prod(out) > MaxSampleSize {
			return nil, bad("output %v is over %d floats per sample", out, MaxSampleSize)
		}
		p.params += np
		if np > MaxParams || p.params > MaxParams {
			return nil, bad("the model would have over %d parameters", MaxParams)
		}
		p.in = append(p.in, shape)
		p.out = append(p.out, out)
		shape = out
	}
	if len(shape) != 1 {
		return nil, fmt.Errorf("model spec: the last layer's output %v must be flat (add flatten, or an lstm without return_sequences)", shape)
	}
	if p.params == 0 {
		return nil, errors.New("model spec: the model has no trainable parameters")
	}
	k := shape[0]
	switch s.Loss {
	case "":
		if k == 1 {
			p.loss = LossBinaryCE
		} else {
			p.loss = LossSoftmaxCE
		}
	case LossBinaryCE:
		if k != 1 {
			return nil, fmt.Errorf("model spec: loss %s needs 1 output, the model has %d", s.Loss, k)
		}
		p.loss = s.Loss
	case LossSoftmaxCE:
		if k < 2 {
			return nil, fmt.Errorf("model spec: loss %s needs at least 2 outputs, the model has %d", s.Loss, k)
		}
		p.loss = s.Loss
	default:
		return nil, fmt.Errorf("model spec: unknown loss %q (want %s or %s)", s.Loss, LossSoftmaxCE, LossBinaryCE)
	}
	return p, nil
}

// PresetOptions sizes the presets. Text presets need Vocab and MaxLen.
// Classes <= 2 gives one output (binary, BCE on the logit); 0 means 10 for
// the image presets and 2 for the text ones.
type PresetOptions struct {
	Vocab, MaxLen, Classes int
	// Pooling and Directions change the LSTM of lstm-text and seed-text:
	// pooling "last", "mean" or "max" over the real steps, 1 or 2
	// directions; "" and 0 keep the preset's own. Other presets have no
	// LSTM and refuse them.
	Pooling    string
	Directions int
}

var presetNames = []string{"logreg", "mlp", "cnn", "lstm-text", "seed-text", "text-ngram"}

// PresetNames lists the built-in model names.
func PresetNames() []string { return append([]string(nil), presetNames...) }

func outUnits(classes, def int) int {
	if classes == 0 {
		classes = def
	}
	if classes <= 2 {
		return 1
	}
	return classes
}

// Preset returns a built-in spec. The networks match
// shared/peers/torch_ref.py layer for layer.
func Preset(name string, o PresetOptions) (Spec, error) {
	var s Spec
	lower := strings.ToLower(name)
	switch lower {
	case "logreg":
		s = Spec{Input: []int{784}, Layers: []LayerSpec{{Type: "dense", Units: outUnits(o.Classes, 10)}}}
	case "mlp":
		s = Spec{Input: []int{784}, Layers: []LayerSpec{
			{Type: "dense", Units: 128, Activation: "relu"},
			{Type: "dense", Units: outUnits(o.Classes, 10)},
		}}
	case "cnn":
		s = Spec{Input: []int{1, 28, 28}, Layers: []LayerSpec{
			{Type: "conv2d", Filters: 16, Kernel: 3, Pad: 1, Activation: "relu"},
			{Type: "maxpool2d", Pool: 2},
			{Type: "conv2d", Filters: 32, Kernel: 3, Pad: 1, Activation: "relu"},
			{Type: "maxpool2d", Pool: 2},
			{Type: "flatten"},
			{Type: "dense", Units: 128, Activation: "relu"},
			{Type: "dense", Units: outUnits(o.Classes, 10)},
		}}
	case "lstm-text", "seed-text":
		if o.Vocab < 2 || o.MaxLen < 1 {
			return Spec{}, fmt.Errorf("preset %s needs a vocabulary size >= 2 and a max length >= 1 (got vocab %d, max length %d)", name, o.Vocab, o.MaxLen)
		}
		dim := 32
		if strings.EqualFold(name, "seed-text") {
			dim = 8
		}
		rnn := LayerSpec{Type: "lstm", Units: 32}
		if o.Pooling != "" {
			rnn.Pooling = o.Pooling
		}
		switch o.Directions {
		case 0:
		case 1, 2:
			rnn.Bidirectional = o.Directions == 2
		default:
			return Spec{}, fmt.Errorf("preset %s: an LSTM has 1 or 2 directions, not %d", name, o.Directions)
		}
		s = Spec{Input: []int{o.MaxLen}, Layers: []LayerSpec{
			{Type: "embedding", Vocab: o.Vocab, Dim: dim, PaddingID: 0},
			rnn,
			{Type: "dense", Units: outUnits(o.Classes, 2)},
		}}
	case "text-ngram":
		// fastText's classifier: the mean of the text's token vectors
		// (words; CJK characters and character bigrams; hashed token
		// bigrams with train.DataOptions.NGrams, Vocab then counting the
		// buckets), dropout, one linear layer. Dropout 0.5 on the bag
		// measured +0.5 points on waimai_10k: the table memorises rare
		// tokens within an epoch.
		if o.Vocab < 2 || o.MaxLen < 1 {
			return Spec{}, fmt.Errorf("preset %s needs a vocabulary size >= 2 and a max length >= 1 (got vocab %d, max length %d)", name, o.Vocab, o.MaxLen)
		}
		s = Spec{Input: []int{o.MaxLen}, Layers: []LayerSpec{
			{Type: "embedding_bag", Vocab: o.Vocab, Dim: 16, PaddingID: 0},
			{Type: "dropout", Rate: 0.5},
			{Type: "dense", Units: outUnits(o.Classes, 2)},
		}}
	default:
		return Spec{}, fmt.Errorf("unknown preset %q (want one of %s)", name, strings.Join(presetNames, ", "))
	}
	if (o.Pooling != "" || o.Directions != 0) && lower != "lstm-text" && lower != "seed-text" {
		return Spec{}, fmt.Errorf("preset %s has no LSTM: pooling and directions are for lstm-text and seed-text", name)
	}
	s.Name = lower
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}
