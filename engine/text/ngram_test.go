package text

import (
	"encoding/json"
	"testing"
)

func ngramEncoder(t *testing.T, maxLen int) *Encoder {
	t.Helper()
	v, err := NewVocab([]string{"not", "good", "very"})
	if err != nil {
		t.Fatal(err)
	}
	return &Encoder{Tokenizer: *NewTokenizer(), Vocab: v, MaxLen: maxLen, NGrams: 2, Buckets: 16}
}

// TestNGramEncode: ids come token, bigram, token, … with bigram ids past
// the vocabulary, within Rows; order matters ("not good" ≠ "good not");
// truncation keeps the beginning; the JSON form round-trips.
func TestNGramEncode(t *testing.T) {
	e := ngramEncoder(t, 8)
	if !e.NGramFeatures() || e.Rows() != e.Vocab.Size()+16 {
		t.Fatalf("features %v, rows %d", e.NGramFeatures(), e.Rows())
	}
	dst := make([]float32, 8)
	n := e.Encode("Not good, very good", dst)
	if n != 7 || e.FeatureCount(4) != 7 {
		t.Fatalf("wrote %d ids (%v), want 4 tokens + 3 bigrams", n, dst)
	}
	v := e.Vocab
	for i, want := range []int{v.ID("not"), -1, v.ID("good"), -1, v.ID("very"), -1, v.ID("good")} {
		id := int(dst[i])
		if want >= 0 && id != want {
			t.Errorf("id %d = %d, want token id %d", i, id, want)
		}
		if want < 0 && (id < v.Size() || id >= e.Rows()) {
			t.Errorf("id %d = %d, want a bigram id in %d..%d", i, id, v.Size(), e.Rows()-1)
		}
	}
	if dst[7] != PadID {
		t.Errorf("padding %v", dst[7])
	}
	rev := make([]float32, 8)
	e.Encode("good not", rev)
	fwd := make([]float32, 8)
	e.Encode("not good", fwd)
	if fwd[1] == rev[1] && bigramBucket("not", "good", 1<<20) == bigramBucket("good", "not", 1<<20) {
		t.Error("a bigram hashes the same both ways round")
	}
	short := ngramEncoder(t, 3)
	if n := short.Encode("not good very good", dst[:3]); n != 3 || int(dst[0]) != v.ID("not") || int(dst[2]) != v.ID("good") {
		t.Errorf("truncated to %d: %v", n, dst[:3])
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEncoder(b)
	if err != nil || back.NGrams != 2 || back.Buckets != 16 {
		t.Fatalf("round trip %s: %+v, %v", b, back, err)
	}
	// An encoder without n-grams writes no new keys (old readers stay
	// happy) and encodes as before.
	plain := &Encoder{Tokenizer: *NewTokenizer(), Vocab: v, MaxLen: 4}
	pb, _ := json.Marshal(plain)
	var keys map[string]any
	if err := json.Unmarshal(pb, &keys); err != nil || keys["ngrams"] != nil || keys["buckets"] != nil {
		t.Errorf("plain encoder JSON %s", pb)
	}
	if n := plain.Encode("not good", dst[:4]); n != 2 || plain.Rows() != v.Size() {
		t.Errorf("plain encode %d, rows %d", n, plain.Rows())
	}
}

func TestBigramBucketMatchesFNV1a(t *testing.T) {
	// FNV-1a of "a\x00b", computed by hand from the published constants.
	h := uint32(2166136261)
	for _, c := range []byte("a\x00b") {
		h = (h ^ uint32(c)) * 16777619
	}
	if got := bigramBucket("a", "b", 1<<31); got != h%(1<<31) {
		t.Fatalf("bigramBucket = %d, want %d", got, h%(1<<31))
	}
}
