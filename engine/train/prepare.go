package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/text"
)

// Kinds of data, and of the models trained on them.
const (
	KindImage = "image"
	KindText  = "text"
)

// Defaults for text data, as in the PyTorch reference trainer.
const (
	DefaultVocab   = 10000
	DefaultMaxLen  = 50
	DefaultHoldout = 0.2
)

// DataOptions says where the data is and how to split and encode it.
type DataOptions struct {
	// Path is an MNIST-style folder (train-images-idx3-ubyte[.gz],
	// train-labels-idx1-ubyte[.gz], t10k-...) or a labelled text file
	// (label<TAB>text TSV with an optional header, CSV or JSONL).
	Path string
	// Holdout is the fraction of rows, taken from the end of the file in
	// file order, used as the test set of a text file. Negative means
	// DefaultHoldout; 0 means no test set. Folders have their own test
	// files and ignore it.
	Holdout float64
	// Vocab caps the vocabulary of text data (reserved ids included);
	// 0 means DefaultVocab. It is also the embedding size handed to text
	// presets, as in the reference trainer.
	Vocab int
	// MaxLen is the number of token ids per text (post-padded or truncated);
	// 0 means DefaultMaxLen.
	MaxLen int
}

// Prepared is data ready for training: two datasets (Test is nil without a
// hold-out), the class names and, for text, the encoder that turned texts
// into ids (it must be saved with the model).
type Prepared struct {
	Kind        string
	Train, Test *data.Dataset
	Labels      []string
	Encoder     *text.Encoder // nil for images
	// VocabCap is the vocabulary cap used (text only); see DataOptions.Vocab.
	VocabCap int
}

// PresetOptions returns the options for nn.Preset that fit this data.
func (p *Prepared) PresetOptions() nn.PresetOptions {
	o := nn.PresetOptions{Classes: len(p.Labels)}
	if p.Encoder != nil {
		o.Vocab = max(p.VocabCap, p.Encoder.Vocab.Size())
		o.MaxLen = p.Encoder.MaxLen
	}
	return o
}

// PrepareData reads o.Path and returns train/test datasets. For text it
// builds the vocabulary from the training rows only (so the test rows are
// as unseen as they will be in use) and orders the class labels with
// data.LabelSet ("ham" < "spam": spam is class 1, the positive class of a
// binary model, as in the reference trainer).
func PrepareData(o DataOptions) (*Prepared, error) {
	if o.Path == "" {
		return nil, errors.New("--data: no path given")
	}
	st, err := os.Stat(o.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--data: %s: no such file or folder", o.Path)
		}
		return nil, fmt.Errorf("--data: %w", err)
	}
	if st.IsDir() {
		return prepareImages(o.Path)
	}
	return prepareText(o)
}

func prepareImages(dir string) (*Prepared, error) {
	tr, te, err := data.LoadMNIST(dir)
	if err != nil {
		return nil, err
	}
	// LoadMNIST always names the ten digit classes.
	return &Prepared{Kind: KindImage, Train: tr, Test: te, Labels: tr.Labels}, nil
}

// DigitLabels returns "0", "1", ... "n-1": the class names of MNIST-like data.
func DigitLabels(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = strconv.Itoa(i)
	}
	return l
}

func prepareText(o DataOptions) (*Prepared, error) {
	if o.Holdout < 0 {
		o.Holdout = DefaultHoldout
	}
	if o.Holdout >= 1 {
		return nil, fmt.Errorf("--holdout must be below 1, got %g", o.Holdout)
	}
	if o.Vocab == 0 {
		o.Vocab = DefaultVocab
	}
	if o.Vocab < text.Reserved+1 || o.Vocab > text.MaxVocabSize {
		return nil, fmt.Errorf("--vocab must be between %d and %d, got %d", text.Reserved+1, text.MaxVocabSize, o.Vocab)
	}
	if o.MaxLen == 0 {
		o.MaxLen = DefaultMaxLen
	}
	if o.MaxLen < 1 || o.MaxLen > text.MaxLenLimit {
		return nil, fmt.Errorf("--max-len must be between 1 and %d, got %d", text.MaxLenLimit, o.MaxLen)
	}
	rows, err := data.ReadTextRows(o.Path)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", o.Path)
	}
	trainN := len(rows)
	if o.Holdout > 0 {
		trainN = data.SplitHoldout(len(rows), o.Holdout)
		if trainN <= 0 || trainN >= len(rows) {
			return nil, fmt.Errorf("%s: %d rows cannot be split with --holdout %g", o.Path, len(rows), o.Holdout)
		}
	}
	labels := data.LabelSet(rows)
	if len(labels) < 2 {
		return nil, fmt.Errorf("%s: needs at least two distinct labels, found %q", o.Path, labels)
	}
	tok := text.NewTokenizer()
	enc := &text.Encoder{Tokenizer: *tok, Vocab: data.BuildTextVocab(rows[:trainN], tok, o.Vocab), MaxLen: o.MaxLen}
	p := &Prepared{Kind: KindText, Labels: labels, Encoder: enc, VocabCap: o.Vocab}
	if p.Train, err = EncodeTexts(rows[:trainN], labels, enc); err != nil {
		return nil, err
	}
	if trainN < len(rows) {
		if p.Test, err = EncodeTexts(rows[trainN:], labels, enc); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// EncodeTexts turns rows into a dataset of token ids (MaxLen per row) with
// y = the index of the row's label in labels (see data.TextDataset).
func EncodeTexts(rows []data.TextRow, labels []string, enc *text.Encoder) (*data.Dataset, error) {
	if labels == nil {
		return nil, errors.New("no labels to encode rows against")
	}
	return data.TextDataset(rows, &enc.Tokenizer, enc.Vocab, enc.MaxLen, labels)
}

// LoadEvalData reads path for evaluating a model trained on the given kind
// of data: the test files of a folder, or the hold-out rows of a text file
// (all rows when holdout is 0) encoded with the model's encoder and labels.
func LoadEvalData(path, kind string, holdout float64, labels []string, enc *text.Encoder) (*data.Dataset, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--data: %s: no such file or folder", path)
		}
		return nil, fmt.Errorf("--data: %w", err)
	}
	if st.IsDir() {
		if kind == KindText {
			return nil, fmt.Errorf("--data: %s is a folder of images, the model reads text", path)
		}
		_, te, err := data.LoadMNIST(path)
		return te, err
	}
	if kind != KindText || enc == nil {
		return nil, fmt.Errorf("--data: %s is a text file, the model reads %s data", path, kind)
	}
	if holdout < 0 {
		holdout = DefaultHoldout
	}
	if holdout >= 1 {
		return nil, fmt.Errorf("--holdout must be below 1, got %g", holdout)
	}
	rows, err := data.ReadTextRows(path)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	where := path
	if holdout > 0 {
		trainN := data.SplitHoldout(len(rows), holdout)
		if trainN >= len(rows) {
			return nil, fmt.Errorf("%s: %d rows leave no test rows with --holdout %g", path, len(rows), holdout)
		}
		rows = rows[trainN:]
		// Row numbers in errors then count from the first hold-out row.
		where = fmt.Sprintf("%s, hold-out rows from data row %d on", path, trainN+1)
	}
	d, err := EncodeTexts(rows, labels, enc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return d, nil
}

// BuildModel makes the model named by model — a preset name (nn.PresetNames)
// or the path of a JSON/YAML spec file — for the prepared data, initialised
// from seed, and checks that its input and output fit the data.
func BuildModel(model string, p *Prepared, seed uint64) (*nn.Model, error) {
	var spec nn.Spec
	var err error
	if slices.Contains(nn.PresetNames(), model) {
		spec, err = nn.Preset(model, p.PresetOptions())
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", model, err)
		}
	} else {
		b, rerr := os.ReadFile(model)
		if rerr != nil {
			if errors.Is(rerr, fs.ErrNotExist) {
				return nil, fmt.Errorf("--model %s: not a preset (%s) and no such file", model, strings.Join(nn.PresetNames(), ", "))
			}
			return nil, fmt.Errorf("--model: %w", rerr)
		}
		spec, err = nn.ParseSpec(b)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", model, err)
		}
	}
	if p.Encoder != nil && len(spec.Layers) > 0 && spec.Layers[0].Type == "embedding" {
		if v := p.Encoder.Vocab.Size(); spec.Layers[0].Vocab < v {
			return nil, fmt.Errorf("--model %s: its embedding has %d rows, the vocabulary %d ids (lower --vocab or raise the spec's vocab)", model, spec.Layers[0].Vocab, v)
		}
	}
	m, err := nn.Build(spec, seed)
	if err != nil {
		return nil, fmt.Errorf("--model %s: %w", model, err)
	}
	in := len(p.Train.X) / max(p.Train.N, 1)
	if m.InputSize() != in {
		return nil, fmt.Errorf("--model %s takes %d values per sample, the data has %d", model, m.InputSize(), in)
	}
	if k := m.OutputSize(); max(k, 2) < len(p.Labels) || (k > 1 && k != len(p.Labels)) {
		return nil, fmt.Errorf("--model %s has %d outputs, the data has %d classes", model, k, len(p.Labels))
	}
	return m, nil
}
