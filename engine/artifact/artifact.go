package artifact

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/engine/jsonx"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/text"
)

// Format tags files written by this package (metadata key MetaFormat).
const Format = "shoal-model/1"

// Metadata keys of a model file. Values are JSON except MetaFormat and
// MetaKind, which are plain strings.
const (
	MetaFormat     = "format"
	MetaKind       = "kind"       // KindImage or KindText
	MetaSpec       = "spec"       // nn.Spec
	MetaLabels     = "labels"     // ["ham","spam"]: class names, index = class
	MetaTokenizer  = "tokenizer"  // text.Encoder (tokenizer, vocab, max_len); text models only
	MetaProvenance = "provenance" // Provenance
)

// Kinds of model: what their input is.
const (
	KindImage = "image" // numeric vectors (pixels in [0,1] for MNIST)
	KindText  = "text"  // raw text, encoded with the saved text.Encoder
)

// Limits on the metadata accepted by Load (the spec and the encoder have
// their own limits in nn and text).
const (
	MaxLabels          = 1 << 16
	MaxLabelBytes      = 1 << 10
	MaxLabelsJSON      = 4 << 20
	MaxProvenanceBytes = 1 << 20
)

// Provenance records how a model was made. Fields may be added; readers
// ignore fields they do not know.
type Provenance struct {
	Created      time.Time `json:"created"`
	Shoal        string    `json:"shoal,omitempty"` // version of the binary that trained it
	Go           string    `json:"go,omitempty"`
	Model        string    `json:"model,omitempty"` // preset name or spec file given to train
	Data         string    `json:"data,omitempty"`  // --data as given
	Holdout      float64   `json:"holdout,omitempty"`
	Seed         uint64    `json:"seed"`
	Epochs       int       `json:"epochs,omitempty"`
	Batch        int       `json:"batch,omitempty"`
	Optimizer    string    `json:"optimizer,omitempty"`
	LR           float64   `json:"lr,omitempty"`
	Samples      int       `json:"samples,omitempty"` // samples trained (all epochs)
	TrainSeconds float64   `json:"train_seconds,omitempty"`
	TestAccuracy *float64  `json:"test_accuracy,omitempty"`
	TestLoss     *float64  `json:"test_loss,omitempty"`
	TestSamples  int       `json:"test_samples,omitempty"`
	// Extra holds anything else worth keeping (e.g. mesh job id, peers).
	Extra map[string]string `json:"extra,omitempty"`
}

// TensorInfo describes a tensor as stored in the file.
type TensorInfo struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// Artifact is a model ready to predict and to save.
type Artifact struct {
	Model      *nn.Model
	Kind       string
	Labels     []string
	Encoder    *text.Encoder // text models only
	Provenance Provenance
	// Hash is the content hash (modelfile) of the file it was loaded from or
	// last saved to; "" for a model never saved.
	Hash string
	// Stored lists the tensors as the file holds them (after Load or Save).
	Stored []TensorInfo

	mu    sync.Mutex
	x     []float32
	probs []float32
	// scratch holds *[]float32 buffers of one input for CheckInput.
	scratch sync.Pool
}

// New wraps a trained model. Labels name the classes (two for a model with
// one output); enc is required for text models and must be nil for images.
func New(m *nn.Model, kind string, labels []string, enc *text.Encoder, prov Provenance) (*Artifact, error) {
	a := &Artifact{Model: m, Kind: kind, Labels: slices.Clone(labels), Encoder: enc, Provenance: prov}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// Classes is the number of classes: 2 for a model with one output.
func (a *Artifact) Classes() int { return max(a.Model.OutputSize(), 2) }

// check verifies that the parts agree with each other.
func (a *Artifact) check() error {
	if a.Model == nil {
		return errors.New("artifact: no model")
	}
	switch a.Kind {
	case KindImage:
		if a.Encoder != nil {
			return errors.New("artifact: an image model has no tokenizer")
		}
	case KindText:
		if a.Encoder == nil || a.Encoder.Vocab == nil {
			return errors.New("artifact: a text model needs its tokenizer and vocabulary")
		}
		if err := a.Encoder.Tokenizer.Validate(); err != nil {
			return fmt.Errorf("artifact: %w", err)
		}
		if a.Encoder.MaxLen != a.Model.InputSize() {
			return fmt.Errorf("artifact: tokenizer makes %d ids per text, model takes %d", a.Encoder.MaxLen, a.Model.InputSize())
		}
		if vocabOf(a.Model.Spec()) < a.Encoder.Rows() {
			return fmt.Errorf("artifact: the tokenizer makes ids up to %d, the model's embedding has only %d rows", a.Encoder.Rows()-1, vocabOf(a.Model.Spec()))
		}
	default:
		return fmt.Errorf("artifact: kind %q, want %q or %q", a.Kind, KindImage, KindText)
	}
	if len(a.Labels) != a.Classes() {
		return fmt.Errorf("artifact: %d labels for a model with %d classes", len(a.Labels), a.Classes())
	}
	if len(a.Labels) > MaxLabels {
		return fmt.Errorf("artifact: %d labels, limit %d", len(a.Labels), MaxLabels)
	}
	seen := make(map[string]bool, len(a.Labels))
	for i, l := range a.Labels {
		if l == "" || len(l) > MaxLabelBytes || !utf8.ValidString(l) {
			return fmt.Errorf("artifact: label %d is empty, longer than %d bytes or not UTF-8", i, MaxLabelBytes)
		}
		if seen[l] {
			return fmt.Errorf("artifact: label %q appears twice", l)
		}
		seen[l] = true
	}
	return nil
}

// vocabOf returns the embedding size of a spec whose first layer is an
// embedding, or MaxInt when there is none (any id is then just a number).
func vocabOf(s nn.Spec) int {
	if len(s.Layers) > 0 && (s.Layers[0].Type == "embedding" || s.Layers[0].Type == "embedding_bag") {
		return s.Layers[0].Vocab
	}
	return math.MaxInt
}

// encode returns the tensors and metadata of a.
func (a *Artifact) encode() ([]modelfile.Tensor, map[string]string, error) {
	if err := a.check(); err != nil {
		return nil, nil, err
	}
	meta := map[string]string{MetaFormat: Format, MetaKind: a.Kind}
	put := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("artifact: %s: %w", key, err)
		}
		meta[key] = string(b)
		return nil
	}
	if err := put(MetaSpec, a.Model.Spec()); err != nil {
		return nil, nil, err
	}
	if err := put(MetaLabels, a.Labels); err != nil {
		return nil, nil, err
	}
	if err := put(MetaProvenance, a.Provenance); err != nil {
		return nil, nil, err
	}
	if a.Encoder != nil {
		if err := put(MetaTokenizer, a.Encoder); err != nil {
			return nil, nil, err
		}
	}
	var ts []modelfile.Tensor
	for _, t := range a.Model.Tensors() {
		ts = append(ts, modelfile.F32Tensor(t.Name, t.Shape, t.Data))
	}
	if a.Model.Quantized() {
		var err error
		if ts, err = encodeQuant(a.Model, ts, meta); err != nil {
			return nil, nil, err
		}
	}
	return ts, meta, nil
}

func (a *Artifact) setStored(ts []modelfile.Tensor) {
	a.Stored = a.Stored[:0]
	for _, t := range ts {
		a.Stored = append(a.Stored, TensorInfo{Name: t.Name, DType: t.DType, Shape: slices.Clone(t.Shape)})
	}
	slices.SortFunc(a.Stored, func(x, y TensorInfo) int { return strings.Compare(x.Name, y.Name) })
}

// Save writes a to path atomically (float32 weights) and returns the
// content hash, which it also keeps in a.Hash.
func (a *Artifact) Save(path string) (string, error) {
	ts, meta, err := a.encode()
	if err != nil {
		return "", err
	}
	h, err := modelfile.Write(path, ts, meta)
	if err != nil {
		return "", err
	}
	a.Hash = h
	a.setStored(ts)
	return h, nil
}

// Encode returns the bytes of the model file Save would write, and its hash.
func (a *Artifact) Encode() ([]byte, string, error) {
	ts, meta, err := a.encode()
	if err != nil {
		return nil, "", err
	}
	return modelfile.Encode(ts, meta)
}

// Load reads and checks a model file.
func Load(path string) (*Artifact, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, err
	}
	a, err := FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Decode checks a model file held in memory. The weights are copied, so b
// may be reused afterwards.
func Decode(b []byte) (*Artifact, error) {
	f, err := modelfile.Decode(b)
	if err != nil {
		return nil, err
	}
	return FromFile(f)
}

// FromFile builds an artifact from a decoded model file, checking that its
// metadata and tensors describe one consistent model.
func FromFile(f *modelfile.File) (*Artifact, error) {
	meta := f.Meta
	switch meta[MetaFormat] {
	case Format:
	case "":
		return nil, fmt.Errorf("not a shoal model: the file has no %q metadata", MetaFormat)
	default:
		return nil, fmt.Errorf("model format %q, this build reads %q", meta[MetaFormat], Format)
	}
	specJSON, ok := meta[MetaSpec]
	if !ok {
		return nil, fmt.Errorf("no %q metadata", MetaSpec)
	}
	spec, err := nn.ParseSpec([]byte(specJSON))
	if err != nil {
		return nil, err
	}
	m, err := buildModel(spec, f) // float, or int8 (quant.go)
	if err != nil {
		return nil, err
	}
	a := &Artifact{Model: m, Kind: meta[MetaKind], Hash: f.Hash}
	labelsJSON := meta[MetaLabels]
	if len(labelsJSON) > MaxLabelsJSON {
		return nil, fmt.Errorf("labels: %d bytes, limit %d", len(labelsJSON), MaxLabelsJSON)
	}
	if labelsJSON == "" { // an absent key: say so, not "empty JSON document"
		return nil, errors.New("labels: missing")
	}
	if err := jsonx.DecodeStrict([]byte(labelsJSON), &a.Labels); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	if tj, ok := meta[MetaTokenizer]; ok {
		if a.Encoder, err = text.ParseEncoder([]byte(tj)); err != nil {
			return nil, err
		}
	}
	if pj, ok := meta[MetaProvenance]; ok {
		if len(pj) > MaxProvenanceBytes {
			return nil, fmt.Errorf("provenance: %d bytes, limit %d", len(pj), MaxProvenanceBytes)
		}
		// Lenient on purpose: newer writers may add fields.
		if err := jsonx.Decode([]byte(pj), &a.Provenance); err != nil {
			return nil, fmt.Errorf("provenance: %w", err)
		}
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	a.setStored(f.Tensors)
	return a, nil
}

// loadWeights copies the file's tensors into m's parameters: every tensor
// of the model must be there with its exact shape, and nothing else.
func loadWeights(m *nn.Model, stored []modelfile.Tensor) error {
	byName := make(map[string]modelfile.Tensor, len(stored))
	for _, t := range stored {
		byName[t.Name] = t
	}
	want := m.Tensors()
	for _, t := range want {
		s, ok := byName[t.Name]
		if !ok {
			return fmt.Errorf("tensor %q is missing", t.Name)
		}
		if !slices.Equal(s.Shape, t.Shape) {
			return fmt.Errorf("tensor %q has shape %v, the spec needs %v", t.Name, s.Shape, t.Shape)
		}
		v, err := s.Float32s()
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if len(v) != len(t.Data) {
			return fmt.Errorf("tensor %q has %d values, the spec needs %d", t.Name, len(v), len(t.Data))
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("tensor %q: value %d is %g", t.Name, i, x)
			}
		}
		copy(t.Data, v)
		delete(byName, t.Name)
	}
	for name := range byName {
		return fmt.Errorf("tensor %q is not part of the model spec", name)
	}
	return nil
}
