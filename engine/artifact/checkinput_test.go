package artifact_test

import (
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
)

// TestCheckInput: CheckInput accepts what Predict accepts and refuses what
// it refuses, with the same message.
func TestCheckInput(t *testing.T) {
	a := imageArtifact(t)
	var fromJSON []any
	if err := json.Unmarshal([]byte(`[1,0,0.5,1]`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	good := []any{[]float32{1, 2, 3, 4}, []float64{0, 0, 0, 0}, fromJSON, []any{json.Number("1"), 2, 3.0, float32(4)}}
	for _, in := range good {
		if err := a.CheckInput(in); err != nil {
			t.Errorf("CheckInput(%v) = %v", in, err)
		}
	}
	bad := []struct {
		in   any
		want string
	}{
		{"some text", "not text"},
		{[]float32{1, 2}, "takes 4 numbers, got 2"},
		{[]float32{1, 2, 3, 4, 5}, "takes 4 numbers, got 5"},
		{[]any{1.0, "x", 2.0, 3.0}, "value 2"},
		{[]float64{1, math.NaN(), 0, 0}, "not a finite number"},
		{[]float32{1, 0, float32(math.Inf(1)), 0}, "value 3 is not a finite number"},
		{map[string]int{}, "want text or an array"},
		{nil, "want text or an array"},
	}
	for _, c := range bad {
		err := a.CheckInput(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckInput(%v) = %v, want %q", c.in, err, c.want)
		}
		_, perr := a.Predict([]any{c.in})
		if perr == nil || !strings.HasSuffix(perr.Error(), err.Error()) {
			t.Errorf("Predict(%v) = %v, CheckInput said %v", c.in, perr, err)
		}
	}
	// Concurrent checks share the scratch buffers safely (run with -race).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if a.CheckInput([]float32{1, 2, 3, 4}) != nil || a.CheckInput([]float32{1}) == nil {
					t.Error("concurrent CheckInput disagrees")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCheckInputText(t *testing.T) {
	a := trainChinese(t, 0)
	if err := a.CheckInput("今天天气很好"); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckInput(""); err != nil {
		t.Fatal(err)
	}
	ids := make([]float32, a.Model.InputSize())
	if err := a.CheckInput(ids); err != nil {
		t.Fatalf("token ids: %v", err)
	}
	ids[0] = 1e6
	if err := a.CheckInput(ids); err == nil || !strings.Contains(err.Error(), "not a token id") {
		t.Fatalf("bad token id: %v", err)
	}
	ids[0] = 0.5
	if err := a.CheckInput(ids); err == nil || !strings.Contains(err.Error(), "not a token id") {
		t.Fatalf("fractional token id: %v", err)
	}
}
