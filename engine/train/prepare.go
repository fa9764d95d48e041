package train

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
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

// Defaults for text data. The vocabulary and hold-out are the PyTorch
// reference trainer's; the length is not (it fixes 50 tokens, which for
// Chinese, one unigram and one bigram a character, is 25 characters).
const (
	DefaultVocab   = 10000
	DefaultHoldout = 0.2
	// MaxLenPercentile is the share of training texts whose ids fit when
	// the length comes from the data (DataOptions.MaxLen 0); the longest
	// few are truncated rather than padding every text to their length.
	MaxLenPercentile = 0.95
	// MaxLenCap and MaxLenCapNGrams cap a length from the data: an LSTM
	// pays for every step, an embedding bag only one row read per id.
	MaxLenCap       = 256
	MaxLenCapNGrams = 1024
	// DefaultBuckets is the n-gram hash table of embedding-bag presets.
	DefaultBuckets = 1 << 15
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
	// 0 takes it from the training texts: the MaxLenPercentile of their id
	// counts, at most MaxLenCap (MaxLenCapNGrams with n-grams).
	MaxLen int
	// NGrams 2 adds hashed token bigrams to the ids, in Buckets hash
	// buckets (0: DefaultBuckets), for embedding-bag models (text-ngram).
	// Off by default: the tokenizer's CJK character bigrams are n-grams
	// already, and the hashed token bigrams measured no better on
	// waimai_10k or SMS while training 5-10 times slower.
	NGrams, Buckets int
}

// Defaults are the settings a model trains best with where the flags
// leave them out (0: the general default).
type Defaults struct {
	LR    float64
	Vocab int
	Batch int
}

// Embedding-bag models (text-ngram) learn from one row read per id, with
// no recurrence to keep the step small: measured on waimai_10k and SMS
// (3 epochs, Adam), lr 0.001 leaves them at 87% and 92% where 0.01 gives
// 90% and 98%, and a 40,000-id vocabulary beats 10,000 on the Chinese
// reviews (their CJK bigrams alone number tens of thousands); batches of
// 64 train twice as fast as 32 and measured no worse (89.9% against 89.8%).
const (
	bagLR    = 0.01
	bagVocab = 40000
	bagBatch = 64
)

// DefaultsFor returns the Defaults of what BuildModel would build from
// model: a preset name (text presets are sized from the data, so a
// placeholder vocabulary and length do here) or a spec file. A model
// that does not resolve gets none; BuildModel reports why later.
func DefaultsFor(model string) Defaults {
	s, err := nn.Preset(model, nn.PresetOptions{Vocab: 2, MaxLen: 1, Classes: 2})
	if err != nil {
		b, rerr := os.ReadFile(model)
		if rerr != nil {
			return Defaults{}
		}
		if s, err = nn.ParseSpec(b); err != nil {
			return Defaults{}
		}
	}
	if len(s.Layers) > 0 && s.Layers[0].Type == "embedding_bag" {
		return Defaults{LR: bagLR, Vocab: bagVocab, Batch: bagBatch}
	}
	return Defaults{}
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
		if p.Encoder.NGramFeatures() {
			o.Vocab = p.Encoder.Rows()
		}
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
	if o.MaxLen < 0 || o.MaxLen > text.MaxLenLimit {
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
	if o.NGrams != 0 && o.NGrams != 2 {
		return nil, fmt.Errorf("n-grams must be 0 (token ids) or 2 (with bigrams), got %d", o.NGrams)
	}
	if o.NGrams == 2 && o.Buckets == 0 {
		o.Buckets = DefaultBuckets
	}
	if o.NGrams == 0 {
		o.Buckets = 0
	}
	if o.Buckets < 0 || o.Buckets > text.MaxBuckets {
		return nil, fmt.Errorf("n-gram buckets must be between 1 and %d, got %d", text.MaxBuckets, o.Buckets)
	}
	tok := text.NewTokenizer()
	enc := &text.Encoder{Tokenizer: *tok, Vocab: data.BuildTextVocab(rows[:trainN], tok, o.Vocab), MaxLen: o.MaxLen,
		NGrams: o.NGrams, Buckets: o.Buckets}
	if enc.MaxLen == 0 {
		enc.MaxLen = lengthFromData(rows[:trainN], enc)
	}
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

// EncodeTexts turns rows into a dataset of ids (MaxLen per row, n-gram
// features where enc makes them) with y = the index of the row's label in
// labels (see data.EncodedTextDataset).
func EncodeTexts(rows []data.TextRow, labels []string, enc *text.Encoder) (*data.Dataset, error) {
	if labels == nil {
		return nil, errors.New("no labels to encode rows against")
	}
	return data.EncodedTextDataset(rows, enc, labels)
}

// lengthFromData is the MaxLenPercentile of the rows' id counts under
// enc, at least 1 and at most the cap for enc's kind of features.
func lengthFromData(rows []data.TextRow, enc *text.Encoder) int {
	limit := MaxLenCap
	if enc.NGramFeatures() {
		limit = MaxLenCapNGrams
	}
	counts := make([]int, len(rows))
	var toks []string
	for i, r := range rows {
		toks = enc.Tokenizer.AppendTokens(toks[:0], r.Text)
		counts[i] = enc.FeatureCount(len(toks))
	}
	slices.Sort(counts)
	k := int(math.Ceil(MaxLenPercentile*float64(len(counts)))) - 1
	return min(max(counts[max(k, 0)], 1), limit)
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
	return BuildModelWith(model, p, seed, ModelOptions{})
}

// ModelOptions change a preset's architecture where the data does not
// decide it (zero values: the preset's own).
type ModelOptions struct {
	// Pooling ("last", "mean", "max") and Directions (1, 2) of the LSTM
	// of lstm-text and seed-text; see nn.PresetOptions.
	Pooling    string
	Directions int
}

// BuildModelWith is BuildModel with ModelOptions; they apply to presets
// only (a spec file says what it wants itself).
func BuildModelWith(model string, p *Prepared, seed uint64, mo ModelOptions) (*nn.Model, error) {
	var spec nn.Spec
	var err error
	if slices.Contains(nn.PresetNames(), model) {
		o := p.PresetOptions()
		o.Pooling, o.Directions = mo.Pooling, mo.Directions
		spec, err = nn.Preset(model, o)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %w", model, err)
		}
	} else {
		if mo != (ModelOptions{}) {
			return nil, fmt.Errorf("--model %s: pooling and directions are options of the lstm presets; a spec file sets them on its lstm layer", model)
		}
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
	if p.Encoder != nil && len(spec.Layers) > 0 && (spec.Layers[0].Type == "embedding" || spec.Layers[0].Type == "embedding_bag") {
		if v := p.Encoder.Rows(); spec.Layers[0].Vocab < v {
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
