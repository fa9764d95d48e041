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
}

// Encode tokenizes s and writes maxLen ids into dst (see Vocab.Encode).
func (e *Encoder) Encode(s string, dst []float32) (length int) {
	return e.Vocab.Encode(e.Tokenizer.Tokens(s), e.MaxLen, dst)
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
	t, err := ParseTokenizer(raw.Tokenizer)
	if err != nil {
		return nil, err
	}
	v, err := ParseVocab(raw.Vocab)
	if err != nil {
		return nil, err
	}
	return &Encoder{Tokenizer: *t, Vocab: v, MaxLen: raw.MaxLen}, nil
}
