package text

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/shoalmesh/shoal/engine/jsonx"
)

// TokenizerKind names the only tokenization scheme so far. It is stored with
// the model so that a future scheme can never be applied by mistake to a model
// trained with this one.
const TokenizerKind = "words+cjk-bigrams/1"

// MaxTokenBytes bounds the length of a vocabulary entry. Longer word runs
// (base64 blobs, very long URLs without separators) are still produced by
// Tokens but are never put in a Vocab, so they encode as out-of-vocabulary.
const MaxTokenBytes = 256

// Tokenizer splits text into tokens. Use NewTokenizer for the default
// settings; the zero value does not lower-case and emits CJK unigrams only.
//
// Rules, applied to the (optionally lower-cased) text:
//   - A word token is a maximal run of Unicode letters and digits (categories
//     L* and N*), like Python's `[^\W_]+`. Underscores, punctuation, symbols,
//     emoji and spaces separate tokens. Unlike Python, combining marks
//     (category M*) continue a run they follow, so words in Indic scripts or
//     in decomposed (NFD) Latin stay whole; the SMS data has none.
//   - Letters of Han, Hiragana, Katakana and Hangul (plus the prolonged sound
//     mark ー) form CJK runs. A CJK run c1 c2 ... cn yields, in order,
//     c1, c1c2, c2, c2c3, ..., cn: every unigram, each followed by the bigram
//     that starts with it (when CJKBigrams is set). The interleaved order keeps
//     neighbouring characters near each other for sequence models.
//   - A switch between a CJK letter and any other letter or digit ends the
//     token, so mixed text like "我爱Go语言2024年" gives CJK tokens for 我爱,
//     "go", CJK tokens for 语言, "2024", "年".
//
// Known differences from the Python reference: characters such as U+3028
// (a Han-script numeral in the SMS test rows' mojibake) are CJK here and glue
// to neighbouring Latin letters there; Python lower-cases İ to "i̇" and final
// Σ to ς, Go to "i" and σ. Neither changes the SMS training vocabulary.
type Tokenizer struct {
	Kind       string `json:"kind"`        // TokenizerKind ("" is read as TokenizerKind)
	Lower      bool   `json:"lower"`       // lower-case before splitting
	CJKBigrams bool   `json:"cjk_bigrams"` // add character bigrams for CJK runs
}

// NewTokenizer returns the default tokenizer: lower-casing, CJK bigrams on.
func NewTokenizer() *Tokenizer {
	return &Tokenizer{Kind: TokenizerKind, Lower: true, CJKBigrams: true}
}

// Validate reports settings this version cannot apply.
func (t *Tokenizer) Validate() error {
	if t.Kind != "" && t.Kind != TokenizerKind {
		return fmt.Errorf("text: unknown tokenizer kind %q (this build knows %q)", t.Kind, TokenizerKind)
	}
	return nil
}

// MaxTokenizerJSONBytes bounds the tokenizer settings accepted by ParseTokenizer.
const MaxTokenizerJSONBytes = 4 << 10

// ParseTokenizer decodes and validates tokenizer settings. Unknown fields are
// rejected: a setting this build does not understand would silently change
// how text is split.
func ParseTokenizer(b []byte) (*Tokenizer, error) {
	if len(b) > MaxTokenizerJSONBytes {
		return nil, fmt.Errorf("text: tokenizer JSON is %d bytes, limit %d", len(b), MaxTokenizerJSONBytes)
	}
	var t Tokenizer
	if err := jsonx.DecodeStrict(b, &t); err != nil {
		return nil, fmt.Errorf("text: tokenizer JSON: %w", err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Kind == "" {
		t.Kind = TokenizerKind
	}
	return &t, nil
}

// Tokens returns the tokens of s.
func (t *Tokenizer) Tokens(s string) []string {
	return t.AppendTokens(nil, s)
}

// AppendTokens appends the tokens of s to dst and returns it. The tokens are
// substrings of s (or of its lower-cased copy): no allocation per token.
func (t *Tokenizer) AppendTokens(dst []string, s string) []string {
	if t.Lower {
		s = strings.ToLower(s)
	}
	const (
		none = iota
		word
		cjk
	)
	state := none
	wordStart := 0
	var startsBuf [64]int
	starts := startsBuf[:0] // byte offsets of the characters of the current CJK run

	flushCJK := func(end int) {
		n := len(starts)
		for j := 0; j < n; j++ {
			e1 := end
			if j+1 < n {
				e1 = starts[j+1]
			}
			dst = append(dst, s[starts[j]:e1])
			if t.CJKBigrams && j+1 < n {
				e2 := end
				if j+2 < n {
					e2 = starts[j+2]
				}
				dst = append(dst, s[starts[j]:e2])
			}
		}
		starts = starts[:0]
	}
	flush := func(end int) {
		switch state {
		case word:
			dst = append(dst, s[wordStart:end])
		case cjk:
			flushCJK(end)
		}
		state = none
	}

	for i, r := range s {
		if r < 0x80 { // ASCII fast path
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
				if state != word {
					flush(i)
					state, wordStart = word, i
				}
			} else {
				flush(i)
			}
			continue
		}
		switch {
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			if isCJK(r) {
				if state != cjk {
					flush(i)
					state = cjk
				}
				starts = append(starts, i)
			} else if state != word {
				flush(i)
				state, wordStart = word, i
			}
		case unicode.Is(unicode.Mark, r):
			// A combining mark belongs to the character before it (a word
			// run, or the last CJK character, e.g. kana + combining dakuten).
			// A mark with nothing to attach to is dropped as a separator.
		default:
			flush(i)
		}
	}
	flush(len(s))
	return dst
}

// isCJK reports whether a letter or digit belongs to a script written without
// spaces between words: Han (incl. 々 〇), Hiragana, Katakana, Hangul, and the
// prolonged sound marks ー/ｰ, which are "Common" script but only occur in kana.
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r) ||
		r == 0x30FC || r == 0xFF70
}
