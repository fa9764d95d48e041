package text

import (
	"encoding/json"
	"fmt"

	"github.com/shoalmesh/shoal/engine/jsonx"
)

// MaxLenLimit bounds Encoder.MaxLen read from a model file.
const MaxLenLimit = 1 << 16

// Encoder is everything needed to turn a text into model input the same way
// at training and at prediction time; its JSON is what the model file stores
// under the "tokenizer" metadata key.
type Encoder struct {
	Tokenizer Tokenizer `json:"tokenizer"`
	Vocab     *Vocab    `json:"vocab"`
	MaxLen    int       `json:"max_len"`
	// NGrams (2) and Buckets add hashed token bigrams to the ids, for
	// embedding-bag models (ngram.go); 0 for sequence models, and in the
	// files written before they existed.
	NGrams  int `json:"ngrams,omitempty"`
	Buckets int `json:"buckets,omitempty"`
}

// Encode tokenizes s and writes MaxLen ids into dst (see Vocab.Encode,
// and encodeNGrams for n-gram features). It returns the ids written.
func (e *Encoder) Encode(s string, dst []float32) (length int) {
	return e.EncodeTokens(e.Tokenizer.Tokens(s), dst)
}

// EncodeTokens is Encode for text already split by e.Tokenizer.
func (e *Encoder) EncodeTokens(tokens []string, dst []float32) (length int) {
	if e.NGramFeatures() {
		return e.encodeNGrams(tokens, dst)
	}
	return e.Vocab.Encode(tokens, e.MaxLen, dst)
}

// ParseEncoder decodes and validates an Encoder (size-limited by the vocabulary limit).
func ParseEncoder(b []byte) (*Encoder, error) {
	if len(b) > MaxVocabJSONBytes+MaxTokenizerJSONBytes {
		return nil, fmt.Errorf("text: encoder JSON is %d bytes, limit %d", len(b), MaxVocabJSONBytes+MaxTokenizerJSONBytes)
	}
	var raw struct {
		Tokenizer json.RawMessage `json:"tokenizer"`
		Vocab     json.RawMessage `json:"vocab"`
		MaxLen    int             `json:"max_len"`
		NGrams    int             `json:"ngrams"`
		Buckets   int             `json:"buckets"`
	}
	if err := jsonx.DecodeStrict(b, &raw); err != nil {
		return nil, fmt.Errorf("text: encoder JSON: %w", err)
	}
	if raw.Tokenizer == nil || raw.Vocab == nil {
		return nil, fmt.Errorf("text: encoder JSON needs both \"tokenizer\" and \"vocab\"")
	}
	if raw.MaxLen < 1 || raw.MaxLen > MaxLenLimit {
		return nil, fmt.Errorf("text: encoder max_len %d out of range 1..%d", raw.MaxLen, MaxLenLimit)
	}
	if raw.NGrams < 0 || raw.NGrams > MaxNGrams || raw.Buckets < 0 || raw.Buckets > MaxBuckets || (raw.NGrams >= 2) != (raw.Buckets > 0) {
		return nil, fmt.Errorf("text: encoder n-grams %d with %d buckets: want ngrams 0..%d, and buckets in 1..%d exactly when ngrams is 2", raw.NGrams, raw.Buckets, MaxNGrams, MaxBuckets)
	}
	t, err := ParseTokenizer(raw.Tokenizer)
	if err != nil {
		return nil, err
	}
	v, err := ParseVocab(raw.Vocab)
	if err != nil {
		return nil, err
	}
	return &Encoder{Tokenizer: *t, Vocab: v, MaxLen: raw.MaxLen, NGrams: raw.NGrams, Buckets: raw.Buckets}, nil
}
