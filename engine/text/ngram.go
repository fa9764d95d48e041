package text

// N-gram features, for the embedding-bag text models (fastText's
// classifier): besides each token's vocabulary id, every pair of
// neighbouring tokens is hashed into one of Buckets extra ids after the
// vocabulary (the hashing trick: no bigram vocabulary to build or ship,
// a fixed table whatever the data). The tokenizer already gives CJK
// character bigrams as tokens, so for Chinese the token bigrams here span
// three or four characters; for space-separated scripts they are word
// bigrams ("not good"), which carry what a bag of single words loses.
//
// Features are laid out token, then the bigram it starts, in text order,
// so a truncated text keeps its beginning with both kinds of features.

// Limits on the n-gram settings read from a model file.
const (
	MaxNGrams  = 2
	MaxBuckets = 1 << 22
)

// NGramFeatures reports whether e adds hashed n-grams to the token ids.
func (e *Encoder) NGramFeatures() bool { return e.NGrams >= 2 && e.Buckets > 0 }

// Rows is the number of embedding rows the encoder's ids need: the
// vocabulary, plus the hash buckets when it makes n-gram features.
func (e *Encoder) Rows() int {
	if e.NGramFeatures() {
		return e.Vocab.Size() + e.Buckets
	}
	return e.Vocab.Size()
}

// FeatureCount is how many ids a text of n tokens gives before truncation.
func (e *Encoder) FeatureCount(n int) int {
	if e.NGramFeatures() && n > 1 {
		return 2*n - 1
	}
	return n
}

// encodeNGrams writes the feature ids of tokens into dst[:e.MaxLen],
// padding with PadID, and returns how many it wrote.
func (e *Encoder) encodeNGrams(tokens []string, dst []float32) int {
	dst = dst[:e.MaxLen]
	off := uint32(e.Vocab.Size())
	n := 0
	for i, tok := range tokens {
		if n == len(dst) {
			break
		}
		dst[n] = float32(e.Vocab.ID(tok))
		n++
		if i+1 < len(tokens) && n < len(dst) {
			dst[n] = float32(off + bigramBucket(tok, tokens[i+1], uint32(e.Buckets)))
			n++
		}
	}
	clear(dst[n:])
	return n
}

// bigramBucket hashes a token pair (FNV-1a, 32 bits; a 0 byte between
// the two, which no token holds, keeps "ab"+"c" apart from "a"+"bc").
// Written out rather than through hash/fnv, whose hasher would be
// allocated for every pair of every text.
func bigramBucket(a, b string, buckets uint32) uint32 {
	const offset32, prime32 = 2166136261, 16777619
	h := uint32(offset32)
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * prime32
	}
	h *= prime32 // the 0 byte: h ^ 0 == h
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * prime32
	}
	return h % buckets
}
