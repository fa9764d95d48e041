package text

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/engine/jsonx"
)

// Reserved ids. Embedding layers use PadID as their padding id.
const (
	PadID    = 0 // padding after the end of a sequence
	OOVID    = 1 // any token not in the vocabulary
	Reserved = 2 // ids below this are not tokens
)

// Limits on decoding a vocabulary (model files come from other peers).
const (
	MaxVocabSize      = 1 << 21  // entries, reserved ids included
	MaxVocabJSONBytes = 64 << 20 // bytes of JSON
)

// VocabFormat tags the JSON form of a Vocab.
const VocabFormat = "shoal-vocab/1"

// Vocab maps tokens to ids: PadID, OOVID, then tokens from most to least
// frequent. It is immutable after construction and safe for concurrent use.
type Vocab struct {
	tokens []string         // tokens[i] has id i+Reserved
	ids    map[string]int32 // token -> id
}

// BuildVocab counts the tokens of docs and keeps the most frequent ones so
// that Size() <= maxSize (the reserved ids count; maxSize <= 0 means no cap).
// Ties are broken by first occurrence, as Python's Counter.most_common does,
// so the ids equal those of the PyTorch reference on the same data.
// Tokens that are empty, longer than MaxTokenBytes or not valid UTF-8 are
// skipped (they would encode as OOVID anyway).
func BuildVocab(docs [][]string, maxSize int) *Vocab {
	type entry struct{ count, first int }
	counts := make(map[string]*entry)
	var order []string
	for _, doc := range docs {
		for _, tok := range doc {
			if e := counts[tok]; e != nil {
				e.count++
				continue
			}
			if !validToken(tok) {
				continue
			}
			tok = strings.Clone(tok) // do not pin the source text in memory
			counts[tok] = &entry{count: 1, first: len(order)}
			order = append(order, tok)
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		return counts[order[i]].count > counts[order[j]].count
	})
	if maxSize > 0 {
		keep := max(maxSize-Reserved, 0)
		if len(order) > keep {
			order = order[:keep]
		}
	}
	v, _ := newVocab(order) // entries are valid and distinct by construction
	return v
}

// NewVocab makes a vocabulary with the given tokens at ids 2, 3, ...
func NewVocab(tokens []string) (*Vocab, error) {
	return newVocab(append([]string(nil), tokens...))
}

func newVocab(tokens []string) (*Vocab, error) {
	if len(tokens)+Reserved > MaxVocabSize {
		return nil, fmt.Errorf("text: vocabulary has %d tokens, limit %d", len(tokens), MaxVocabSize-Reserved)
	}
	v := &Vocab{tokens: tokens, ids: make(map[string]int32, len(tokens))}
	for i, tok := range tokens {
		if !validToken(tok) {
			return nil, fmt.Errorf("text: vocabulary token %d (%.40q) is empty, longer than %d bytes or not UTF-8", i+Reserved, tok, MaxTokenBytes)
		}
		if _, dup := v.ids[tok]; dup {
			return nil, fmt.Errorf("text: vocabulary token %q appears twice", tok)
		}
		v.ids[tok] = int32(i + Reserved)
	}
	return v, nil
}

func validToken(tok string) bool {
	return tok != "" && len(tok) <= MaxTokenBytes && utf8.ValidString(tok)
}

// Size is the number of ids, reserved ones included: the vocabulary size an
// Embedding layer needs.
func (v *Vocab) Size() int { return len(v.tokens) + Reserved }

// ID returns the id of tok, or OOVID.
func (v *Vocab) ID(tok string) int {
	if id, ok := v.ids[tok]; ok {
		return int(id)
	}
	return OOVID
}

// Token returns the token with the given id; "<pad>" and "<oov>" for the
// reserved ids and "" for ids out of range.
func (v *Vocab) Token(id int) string {
	switch {
	case id == PadID:
		return "<pad>"
	case id == OOVID:
		return "<oov>"
	case id >= Reserved && id < v.Size():
		return v.tokens[id-Reserved]
	}
	return ""
}

// Tokens returns a copy of the tokens in id order, starting at id Reserved.
func (v *Vocab) Tokens() []string { return append([]string(nil), v.tokens...) }

// Encode writes the ids of the first maxLen tokens into dst[:maxLen] as
// float32 (token ids travel as float32 in engine/nn) and pads the rest with
// PadID ("post" padding and truncation). It returns the real length,
// min(len(tokens), maxLen); 0 for an empty text (the PyTorch reference then
// reads the LSTM output at step 1, i.e. treats it as length 1). It panics if
// len(dst) < maxLen, like a slice index would. It does not allocate.
func (v *Vocab) Encode(tokens []string, maxLen int, dst []float32) (length int) {
	dst = dst[:maxLen]
	n := min(len(tokens), maxLen)
	for i, tok := range tokens[:n] {
		dst[i] = float32(v.ID(tok))
	}
	clear(dst[n:])
	return n
}

type vocabJSON struct {
	Format string   `json:"format"`
	PadID  int      `json:"pad_id"`
	OOVID  int      `json:"oov_id"`
	Tokens []string `json:"tokens"` // ids Reserved, Reserved+1, ...
}

// MarshalJSON writes {"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[...]}.
func (v *Vocab) MarshalJSON() ([]byte, error) {
	toks := v.tokens
	if toks == nil {
		toks = []string{}
	}
	return json.Marshal(vocabJSON{Format: VocabFormat, PadID: PadID, OOVID: OOVID, Tokens: toks})
}

// UnmarshalJSON reads what MarshalJSON writes, checking the size limits,
// format tag, reserved ids, and that tokens are valid and distinct.
func (v *Vocab) UnmarshalJSON(b []byte) error {
	nv, err := ParseVocab(b)
	if err != nil {
		return err
	}
	*v = *nv
	return nil
}

// ParseVocab decodes a vocabulary written by MarshalJSON.
func ParseVocab(b []byte) (*Vocab, error) {
	if len(b) > MaxVocabJSONBytes {
		return nil, fmt.Errorf("text: vocabulary JSON is %d bytes, limit %d", len(b), MaxVocabJSONBytes)
	}
	var j vocabJSON
	if err := jsonx.DecodeStrict(b, &j); err != nil {
		return nil, fmt.Errorf("text: vocabulary JSON: %w", err)
	}
	if j.Format != VocabFormat {
		return nil, fmt.Errorf("text: vocabulary format %q, want %q", j.Format, VocabFormat)
	}
	if j.PadID != PadID || j.OOVID != OOVID {
		return nil, fmt.Errorf("text: vocabulary has pad_id %d, oov_id %d; this build needs %d and %d", j.PadID, j.OOVID, PadID, OOVID)
	}
	return newVocab(j.Tokens)
}
