package data

import (
	"fmt"

	"github.com/shoalmesh/shoal/engine/text"
)

// BuildTextVocab tokenizes the rows' texts and builds a vocabulary of at most
// maxSize ids (reserved ids included; see text.BuildVocab). Build it from the
// training rows only, as the PyTorch reference does.
func BuildTextVocab(rows []TextRow, tok *text.Tokenizer, maxSize int) *text.Vocab {
	docs := make([][]string, len(rows))
	for i, r := range rows {
		docs[i] = tok.Tokens(r.Text)
	}
	return text.BuildVocab(docs, maxSize)
}

// TextDataset encodes rows into a Dataset: X holds maxLen token ids per
// sample as float32 (post-padded/truncated), SampleShape is [maxLen], Y is
// the index of the row's label in labels, Texts the raw texts and Lengths
// the real token counts. labels nil means LabelSet(rows); pass the training
// set's labels when encoding a test set so that the indices agree. A label
// not in labels is an error.
func TextDataset(rows []TextRow, tok *text.Tokenizer, v *text.Vocab, maxLen int, labels []string) (*Dataset, error) {
	return EncodedTextDataset(rows, &text.Encoder{Tokenizer: *tok, Vocab: v, MaxLen: maxLen}, labels)
}

// EncodedTextDataset is TextDataset with every setting of enc, n-gram
// features included (SampleShape is [enc.MaxLen], Lengths the ids written).
func EncodedTextDataset(rows []TextRow, enc *text.Encoder, labels []string) (*Dataset, error) {
	maxLen := enc.MaxLen
	if maxLen < 1 {
		return nil, fmt.Errorf("data: maxLen %d, want >= 1", maxLen)
	}
	if labels == nil {
		labels = LabelSet(rows)
	}
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		index[l] = i
	}
	d := &Dataset{
		X:           make([]float32, len(rows)*maxLen),
		Y:           make([]float32, len(rows)),
		N:           len(rows),
		SampleShape: []int{maxLen},
		Labels:      labels,
		Texts:       make([]string, len(rows)),
		Lengths:     make([]int, len(rows)),
	}
	var toks []string
	for i, r := range rows {
		y, ok := index[r.Label]
		if !ok {
			return nil, fmt.Errorf("data: row %d has label %q, not one of the %d known labels %q", i+1, r.Label, len(labels), truncList(labels))
		}
		d.Y[i] = float32(y)
		toks = enc.Tokenizer.AppendTokens(toks[:0], r.Text)
		d.Lengths[i] = enc.EncodeTokens(toks, d.X[i*maxLen:(i+1)*maxLen])
		if enc.FeatureCount(len(toks)) > maxLen {
			d.Truncated++
		}
		d.Texts[i] = r.Text
	}
	return d, nil
}

func truncList(l []string) []string {
	if len(l) > 10 {
		return l[:10]
	}
	return l
}

// PrepareText is the usual text pipeline in one call: the first trainN rows
// train, the rest test (see SplitHoldout); the default tokenizer; a vocabulary
// of at most vocabSize ids from the training rows; labels from the training
// rows (a test label unseen in training is an error). The returned Encoder is
// what the model file stores so that prediction encodes text identically.
// test is nil when trainN == len(rows).
func PrepareText(rows []TextRow, trainN, vocabSize, maxLen int) (train, test *Dataset, enc *text.Encoder, err error) {
	if trainN < 1 || trainN > len(rows) {
		return nil, nil, nil, fmt.Errorf("data: %d training rows of %d, want 1..%d", trainN, len(rows), len(rows))
	}
	tok := text.NewTokenizer()
	v := BuildTextVocab(rows[:trainN], tok, vocabSize)
	labels := LabelSet(rows[:trainN])
	train, err = TextDataset(rows[:trainN], tok, v, maxLen, labels)
	if err != nil {
		return nil, nil, nil, err
	}
	if trainN < len(rows) {
		test, err = TextDataset(rows[trainN:], tok, v, maxLen, labels)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("test rows: %w", err)
		}
	}
	return train, test, &text.Encoder{Tokenizer: *tok, Vocab: v, MaxLen: maxLen}, nil
}
