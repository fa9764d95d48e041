package train

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/engine/text"
)

func waimaiFile(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("trains on waimai_10k: skipped with -short")
	}
	if raceEnabled {
		t.Skip("trains on waimai_10k: too slow under -race; run without -race")
	}
	return datatest.Waimai(t)
}

func bagOptions(path string) DataOptions {
	return DataOptions{Path: path, Holdout: 0.2, Vocab: DefaultsFor("text-ngram").Vocab}
}

// The text presets on the Chinese reviews, 3 epochs, default flags (the
// length from the data): the best must reach 0.90 (issue 15; text-ngram
// measured 0.9012, lstm-text 0.8862), and text-ngram must stay within a
// point of lstm-text or above. Speed is measured in BENCHMARKS.md, not
// here.
func TestWaimaiTextAccuracy(t *testing.T) {
	path := waimaiFile(t)
	ng := trainPreset(t, "text-ngram", bagOptions(path), 3)
	lstm := trainPreset(t, "lstm-text", DataOptions{Path: path, Holdout: 0.2}, 3)
	t.Logf("text-ngram %.4f at %.0f samples/s; lstm-text %.4f at %.0f samples/s (%.1fx)",
		ng.Test.Accuracy, ng.SamplesPerSec, lstm.Test.Accuracy, lstm.SamplesPerSec, ng.SamplesPerSec/lstm.SamplesPerSec)
	if best := max(ng.Test.Accuracy, lstm.Test.Accuracy); best < 0.90 {
		t.Errorf("best text preset on waimai_10k: %.4f, want >= 0.90", best)
	}
	if ng.Test.Accuracy < lstm.Test.Accuracy-0.01 {
		t.Errorf("text-ngram %.4f is more than a point below lstm-text %.4f", ng.Test.Accuracy, lstm.Test.Accuracy)
	}
}

// On SMS lstm-text is the best preset (0.990, TestSMSLSTMAccuracy);
// text-ngram must stay within a point of it (measured 0.9848).
func TestSMSTextNGramAccuracy(t *testing.T) {
	res := trainPreset(t, "text-ngram", bagOptions(smsFile(t)), 3)
	if res.Test.Accuracy < 0.980 {
		t.Errorf("text-ngram on SMS after 3 epochs: %.4f, want >= 0.980 (within a point of lstm-text's 0.990)", res.Test.Accuracy)
	}
}

// longTexts writes n reviews of about 120 words whose class shows only in
// their last word ("excellent" or "terrible"): every word before it is
// shared filler.
func longTexts(t *testing.T, n int) string {
	t.Helper()
	filler := strings.Fields("the order came with rice soup noodles and a drink we waited for the courier while the app showed the map")
	var b strings.Builder
	for i := range n {
		var words []string
		for j := range 120 {
			words = append(words, filler[(i+j)%len(filler)])
		}
		label, last := "pos", "excellent"
		if i%2 == 1 {
			label, last = "neg", "terrible"
		}
		fmt.Fprintf(&b, "%s\t%s %s\n", label, strings.Join(words, " "), last)
	}
	path := filepath.Join(t.TempDir(), "long.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLongTextsUseTheirLastWords: with the length from the data, a text of
// 121 words is read to its end and classified by its last word; with the
// old fixed window of 50 tokens that word is cut off and the model can do
// no better than chance. Both presets, so the recurrent one is covered too.
func TestLongTextsUseTheirLastWords(t *testing.T) {
	path := longTexts(t, 200)
	// The bag's mean gives the last word 1/121 of the vector: it needs
	// more (cheap) passes to pick it out than the LSTM does.
	epochs := map[string]int{"text-ngram": 40, "lstm-text": 8}
	for _, preset := range []string{"text-ngram", "lstm-text"} {
		for _, tc := range []struct {
			maxLen  int
			atLeast float64
			atMost  float64
		}{{0, 0.95, 1}, {50, 0, 0.6}} {
			o := DataOptions{Path: path, Holdout: 0.25, MaxLen: tc.maxLen}
			prep, err := PrepareData(o)
			if err != nil {
				t.Fatal(err)
			}
			if tc.maxLen == 0 && (prep.Encoder.MaxLen != 121 || prep.Train.Truncated != 0) {
				t.Fatalf("length from the data: %d ids, %d truncated; want 121, none", prep.Encoder.MaxLen, prep.Train.Truncated)
			}
			if tc.maxLen == 50 && prep.Train.Truncated != prep.Train.N {
				t.Fatalf("with 50 ids %d of %d texts truncated, want all", prep.Train.Truncated, prep.Train.N)
			}
			res := trainPreset(t, preset, o, epochs[preset])
			if acc := res.Test.Accuracy; acc < tc.atLeast || acc > tc.atMost {
				t.Errorf("%s with --max-len %d: accuracy %.3f, want in [%.2f, %.2f]", preset, tc.maxLen, acc, tc.atLeast, tc.atMost)
			}
		}
	}
}

func TestLengthFromData(t *testing.T) {
	var rows []data.TextRow
	for i := 1; i <= 100; i++ {
		rows = append(rows, data.TextRow{Label: "x", Text: strings.Repeat("w ", i)})
	}
	enc := &text.Encoder{Tokenizer: *text.NewTokenizer(), Vocab: mustVocab(t), MaxLen: 0}
	if got := lengthFromData(rows, enc); got != 95 {
		t.Errorf("95th percentile of 1..100 tokens = %d, want 95", got)
	}
	rows = append(rows, data.TextRow{Label: "x", Text: strings.Repeat("w ", 5000)})
	for i := range rows {
		rows[i].Text = strings.Repeat("w ", 1000)
	}
	if got := lengthFromData(rows, enc); got != MaxLenCap {
		t.Errorf("long texts: %d, want the cap %d", got, MaxLenCap)
	}
	enc.NGrams, enc.Buckets = 2, 8
	if got := lengthFromData(rows, enc); got != MaxLenCapNGrams {
		t.Errorf("long texts with n-grams: %d, want the cap %d", got, MaxLenCapNGrams)
	}
	if got := lengthFromData([]data.TextRow{{Label: "x", Text: "!!!"}}, enc); got != 1 {
		t.Errorf("texts without tokens: %d, want 1", got)
	}
}

func mustVocab(t *testing.T) *text.Vocab {
	t.Helper()
	v, err := text.NewVocab([]string{"w"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
