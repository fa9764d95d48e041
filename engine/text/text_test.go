package text

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	tk := NewTokenizer()
	cases := []struct {
		name, in string
		want     []string
	}{
		{"english", "Go until jurong point, crazy.. Available only", []string{"go", "until", "jurong", "point", "crazy", "available", "only"}},
		{"underscore and apostrophe", "T&C's apply snake_case 08452810075over18's", []string{"t", "c", "s", "apply", "snake", "case", "08452810075over18", "s"}},
		{"accents", "Café ÉTÉ naïve £100", []string{"café", "été", "naïve", "100"}},
		{"chinese", "今天天气很好", []string{"今", "今天", "天", "天天", "天", "天气", "气", "气很", "很", "很好", "好"}},
		{"chinese punctuation", "好，坏。", []string{"好", "坏"}},
		{"japanese", "東京はカレーが好き", []string{"東", "東京", "京", "京は", "は", "はカ", "カ", "カレ", "レ", "レー", "ー", "ーが", "が", "が好", "好", "好き", "き"}},
		{"korean", "안녕 세계", []string{"안", "안녕", "녕", "세", "세계", "계"}},
		{"mixed", "我爱Go语言2024年!", []string{"我", "我爱", "爱", "go", "语", "语言", "言", "2024", "年"}},
		{"emoji and symbols", "hi😀there ✓ ok!!! #tag @me", []string{"hi", "there", "ok", "tag", "me"}},
		{"only punctuation", "... !!! ??? 😀", nil},
		{"empty", "", nil},
		{"russian greek", "Привет МИР Αθήνα", []string{"привет", "мир", "αθήνα"}},
		{"combining mark continues word", "cafe\u0301 नमस्ते", []string{"cafe\u0301", "नमस्ते"}},
		{"fullwidth digits", "ＡＢＣ１２３", []string{"ａｂｃ１２３"}},
		{"invalid utf8 separates", "ab\xffcd", []string{"ab", "cd"}},
		{"single cjk", "猫", []string{"猫"}},
		{"arabic", "مرحبا بالعالم، كيف الحال؟", []string{"مرحبا", "بالعالم", "كيف", "الحال"}},
		{"hebrew", "שלום עולם", []string{"שלום", "עולם"}},
		{"arabic digits and latin", "طلب ٣ pizza", []string{"طلب", "٣", "pizza"}},
		{"emoji zwj inside cjk", "好👨‍👩‍👧吃", []string{"好", "吃"}},
		{"traditional chinese review", "外送很快，餐點好吃", []string{"外", "外送", "送", "送很", "很", "很快", "快", "餐", "餐點", "點", "點好", "好", "好吃", "吃"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := tk.Tokens(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Tokens(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestTokensOptions(t *testing.T) {
	tk := Tokenizer{Lower: false, CJKBigrams: false}
	got := tk.Tokens("Hello 世界")
	want := []string{"Hello", "世", "界"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBuildVocabOrder(t *testing.T) {
	// Counts: b=3, a=2, c=2, d=1. Ties (a, c) keep first occurrence order.
	docs := [][]string{{"c", "a", "b"}, {"b", "a", "c", "b", "d"}}
	v := BuildVocab(docs, 0)
	if got, want := v.Tokens(), []string{"b", "c", "a", "d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	if v.Size() != 6 || v.ID("b") != 2 || v.ID("d") != 5 || v.ID("zzz") != OOVID {
		t.Errorf("size %d, ids b=%d d=%d zzz=%d", v.Size(), v.ID("b"), v.ID("d"), v.ID("zzz"))
	}
	capped := BuildVocab(docs, 4)
	if got, want := capped.Tokens(), []string{"b", "c"}; !reflect.DeepEqual(got, want) || capped.Size() != 4 {
		t.Errorf("capped tokens %q size %d, want %q size 4", got, capped.Size(), want)
	}
	if BuildVocab(docs, 1).Size() != 2 {
		t.Errorf("cap below reserved should leave only reserved ids")
	}
	long := strings.Repeat("x", MaxTokenBytes+1)
	if v := BuildVocab([][]string{{long, "", "ok"}}, 0); !reflect.DeepEqual(v.Tokens(), []string{"ok"}) {
		t.Errorf("invalid tokens kept: %q", v.Tokens())
	}
	if v.Token(0) != "<pad>" || v.Token(1) != "<oov>" || v.Token(2) != "b" || v.Token(99) != "" {
		t.Errorf("Token() wrong")
	}
}

func TestEncode(t *testing.T) {
	v := BuildVocab([][]string{{"a", "b", "c"}}, 0) // a=2 b=3 c=4
	dst := []float32{9, 9, 9, 9, 9}
	n := v.Encode([]string{"c", "x", "a"}, 5, dst)
	if n != 3 || !reflect.DeepEqual(dst, []float32{4, 1, 2, 0, 0}) {
		t.Errorf("post-pad: n=%d dst=%v", n, dst)
	}
	dst = []float32{9, 9, 9, 9, 9}
	n = v.Encode([]string{"a", "b", "c", "a", "b", "c"}, 4, dst)
	if n != 4 || !reflect.DeepEqual(dst, []float32{2, 3, 4, 2, 9}) {
		t.Errorf("truncate: n=%d dst=%v (dst beyond maxLen must be untouched)", n, dst)
	}
	if n := v.Encode(nil, 3, dst); n != 0 || !reflect.DeepEqual(dst[:3], []float32{0, 0, 0}) {
		t.Errorf("empty: n=%d dst=%v", n, dst)
	}
	if a := testing.AllocsPerRun(100, func() { v.Encode([]string{"a", "q"}, 5, dst) }); a != 0 {
		t.Errorf("Encode allocates %v times", a)
	}
}

func TestVocabJSONRoundTrip(t *testing.T) {
	tk := NewTokenizer()
	var docs [][]string
	for _, s := range []string{"今天天气很好", "今天天气很坏", "Hello world", "안녕 세계 😀", "東京はカレー"} {
		docs = append(docs, tk.Tokens(s))
	}
	v := BuildVocab(docs, 0)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back Vocab
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Tokens(), v.Tokens()) {
		t.Fatalf("round trip changed tokens")
	}
	e := &Encoder{Tokenizer: *tk, Vocab: v, MaxLen: 8}
	eb, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := ParseEncoder(eb)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := make([]float32, 8), make([]float32, 8)
	n1, n2 := e.Encode("今天很好 hello", d1), e2.Encode("今天很好 hello", d2)
	if n1 != n2 || !reflect.DeepEqual(d1, d2) || n1 != 8 {
		t.Errorf("encoders differ after round trip: %v %v / %v %v", n1, d1, n2, d2)
	}
	empty, _ := json.Marshal(BuildVocab(nil, 10))
	if _, err := ParseVocab(empty); err != nil {
		t.Errorf("empty vocab does not round-trip: %v (%s)", err, empty)
	}
}

func TestParseVocabMalformed(t *testing.T) {
	long := strings.Repeat("y", MaxTokenBytes+1)
	cases := []struct{ name, in, want string }{
		{"empty input", ``, "empty JSON document"},
		{"not json", `hello`, "invalid character"},
		{"array", `["a"]`, "got array, want text.vocabJSON"},
		{"wrong format", `{"format":"other","pad_id":0,"oov_id":1,"tokens":[]}`, "format"},
		{"missing format", `{"tokens":["a"]}`, "format"},
		{"wrong pad", `{"format":"shoal-vocab/1","pad_id":1,"oov_id":0,"tokens":[]}`, "pad_id"},
		{"duplicate", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":["a","b","a"]}`, "twice"},
		{"empty token", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":["a",""]}`, "empty"},
		{"long token", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":["` + long + `"]}`, "longer"},
		{"token not string", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[1]}`, `JSON field "tokens": got number, want string`},
		{"unknown field", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[],"x":1}`, "unknown field"},
		{"trailing", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[]} {}`, "trailing"},
		{"trailing brace", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[]} }`, "trailing"},
		{"trailing bracket", `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[]}]`, "trailing"},
		{"too big", `{"format":"shoal-vocab/1","tokens":["` + strings.Repeat("z", MaxVocabJSONBytes) + `"]}`, "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseVocab([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestNewVocabInvalid(t *testing.T) {
	// JSON decoding replaces invalid UTF-8 with U+FFFD, so NewVocab is where
	// the UTF-8 check can fire.
	if _, err := NewVocab([]string{"ok", "a\xffb"}); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("err = %v, want UTF-8 complaint", err)
	}
}

func TestParseTokenizerAndEncoderMalformed(t *testing.T) {
	tcases := []struct{ in, want string }{
		{`{"kind":"bpe/9","lower":true}`, "unknown tokenizer kind"},
		{`{"lower":true,"stem":true}`, "unknown field"},
		{`[]`, "got array, want text.Tokenizer"},
		{`{"lower":"yes"}`, `JSON field "lower": got string, want bool`},
		{`{"lower":true}]`, "trailing"},
	}
	for _, c := range tcases {
		if _, err := ParseTokenizer([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseTokenizer(%s) err = %v, want %q", c.in, err, c.want)
		}
	}
	if tk, err := ParseTokenizer([]byte(`{"lower":true,"cjk_bigrams":true}`)); err != nil || tk.Kind != TokenizerKind {
		t.Errorf("empty kind should mean %q: %v %v", TokenizerKind, tk, err)
	}
	v := `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":["a"]}`
	ecases := []struct{ in, want string }{
		{`{"tokenizer":{"lower":true},"vocab":` + v + `,"max_len":0}`, "max_len"},
		{`{"tokenizer":{"lower":true},"vocab":` + v + `,"max_len":100000000}`, "max_len"},
		{`{"vocab":` + v + `,"max_len":5}`, "needs both"},
		{`{"tokenizer":{"kind":"x"},"vocab":` + v + `,"max_len":5}`, "unknown tokenizer kind"},
		{`{"tokenizer":{},"vocab":{"format":"x"},"max_len":5}`, "format"},
		{`{"tokenizer":{"lower":true},"vocab":` + v + `,"max_len":5}}`, "trailing"},
		{`{"tokenizer":{},"vocab":` + v + `,"max_len":5,"ngrams":2}`, "buckets"},
		{`{"tokenizer":{},"vocab":` + v + `,"max_len":5,"ngrams":3,"buckets":8}`, "ngrams 0..2"},
		{`{"tokenizer":{},"vocab":` + v + `,"max_len":5,"buckets":8}`, "exactly when"},
		{`{"tokenizer":{},"vocab":` + v + `,"max_len":5,"ngrams":2,"buckets":99999999}`, "buckets in 1.."},
		{`{"tokenizer":{},"vocab":` + v + `,"max_len":5,"ngrams":-1}`, "ngrams"},
	}
	for _, c := range ecases {
		if _, err := ParseEncoder([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseEncoder(%s) err = %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzVocabJSON(f *testing.F) {
	f.Add([]byte(`{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":["a","今天"]}`))
	f.Add([]byte(`{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":[]}`))
	f.Add([]byte(`{"format":"shoal-vocab/1","tokens":["a","a"]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVocab(b)
		if err != nil {
			return
		}
		// Anything accepted must round-trip exactly and map ids consistently.
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := ParseVocab(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(v.Tokens(), v2.Tokens()) {
			t.Fatal("round trip changed tokens")
		}
		for i, tok := range v.Tokens() {
			if v.ID(tok) != i+Reserved {
				t.Fatalf("ID(%q) = %d, want %d", tok, v.ID(tok), i+Reserved)
			}
		}
	})
}

// FuzzEncoderJSON feeds ParseEncoder, which reads the "tokenizer" metadata
// of model files from other peers: it must never panic, and what it accepts
// must encode text without panicking and survive a round trip.
func FuzzEncoderJSON(f *testing.F) {
	v := `{"format":"shoal-vocab/1","pad_id":0,"oov_id":1,"tokens":["a","今天"]}`
	f.Add([]byte(`{"tokenizer":{"kind":"words+cjk-bigrams/1","lower":true,"cjk_bigrams":true},"vocab":` + v + `,"max_len":4}`))
	f.Add([]byte(`{"tokenizer":{},"vocab":` + v + `,"max_len":1}`))
	f.Add([]byte(`{"tokenizer":{"kind":"x"},"vocab":{},"max_len":0}`))
	f.Add([]byte(`{"tokenizer":{},"vocab":` + v + `,"max_len":6,"ngrams":2,"buckets":16}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEncoder(b)
		if err != nil {
			return
		}
		if e.MaxLen > 1<<10 {
			return // valid, but too slow to exercise on every input
		}
		dst := make([]float32, e.MaxLen)
		if n := e.Encode("今天 a b", dst); n < 0 || n > e.MaxLen {
			t.Fatalf("Encode length %d, MaxLen %d", n, e.MaxLen)
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseEncoder(out); err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
	})
}

func FuzzTokens(f *testing.F) {
	for _, s := range []string{"今天天气很好", "Hello, world", "我爱Go语言", "a\u0301b", "\xff\xfe"} {
		f.Add(s)
	}
	tk := NewTokenizer()
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range tk.Tokens(s) {
			if tok == "" {
				t.Fatalf("empty token from %q", s)
			}
		}
	})
}

func BenchmarkTokens(b *testing.B) {
	tk := NewTokenizer()
	s := "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005. 今天天气很好，我们去公园吧。Text FA to 87121"
	var dst []string
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		dst = tk.AppendTokens(dst[:0], s)
	}
}
