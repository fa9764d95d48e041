package tfserving

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
)

// TestEncodeMatchesMarshal checks the hand-written answer writers against
// json.Marshal, byte for byte, and that they give up where it fails.
func TestEncodeMatchesMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	labels := []string{"", "3", "cat", "a b", `q"uote`, `back\slash`, "<b>&", "é", "\u2028", "\x00\x1f", "\xff", "tab\t", "del\x7f"}
	special := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.55, 1e-6, 9.99999e-7, 1e-7, 1e21, 9.99999e20, 1e-45, math.MaxFloat32, -math.MaxFloat32, 123456789, 1.5e-10}
	f32 := func() float32 {
		if r.IntN(3) == 0 {
			return special[r.IntN(len(special))]
		}
		for {
			if x := float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(90)-45))); !math.IsInf(float64(x), 0) {
				return x
			}
		}
	}
	floats := func() []float32 {
		if r.IntN(10) == 0 {
			return nil
		}
		xs := make([]float32, r.IntN(12))
		for i := range xs {
			xs[i] = f32()
		}
		return xs
	}
	check := func(v any, wantOK bool) {
		t.Helper()
		want, err := json.Marshal(v)
		got, ok := appendAnswer([]byte("prefix"), v)
		if ok != wantOK || ok != (err == nil) {
			t.Fatalf("%#v: writer ok %v, json.Marshal %v", v, ok, err)
		}
		if ok && !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("writer\n%s\njson.Marshal\n%s", got, want)
		}
	}
	for range 20000 {
		n := r.IntN(5)
		rows := PredictResponse{Predictions: make([]Prediction, n)}
		cols := Outputs{Class: make([]int, n), Label: make([]string, n), Probability: make([]float32, n), Probabilities: make([][]float32, n)}
		for i := range n {
			p := Prediction{Class: r.IntN(2000) - 1000, Label: labels[r.IntN(len(labels))], Probability: f32(), Probabilities: floats()}
			rows.Predictions[i] = p
			cols.Class[i], cols.Label[i], cols.Probability[i], cols.Probabilities[i] = p.Class, p.Label, p.Probability, p.Probabilities
		}
		check(rows, true)
		check(ColumnarResponse{Outputs: cols}, true)
		if n > 0 {
			bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[r.IntN(3)]
			i := r.IntN(n)
			if r.IntN(2) == 0 {
				rows.Predictions[i].Probability = bad
				cols.Probability[i] = bad
			} else {
				rows.Predictions[i].Probabilities = append(rows.Predictions[i].Probabilities, bad)
				cols.Probabilities[i] = rows.Predictions[i].Probabilities
			}
			check(rows, false)
			check(ColumnarResponse{Outputs: cols}, false)
		}
	}
	// nil lists are null, and left to json.Marshal.
	for _, v := range []any{PredictResponse{}, ColumnarResponse{}, errorBody{Error: "x"}} {
		if _, ok := appendAnswer(nil, v); ok {
			t.Fatalf("%#v: the writer took it; want it left to json.Marshal", v)
		}
	}
}

// TestWriteJSON checks the answers writeJSON writes: a newline after the
// JSON, and a 500 saying why for an answer JSON cannot hold.
func TestWriteJSON(t *testing.T) {
	for range 3 { // the second and third reuse a pooled buffer
		w := httptest.NewRecorder()
		writeJSON(w, 200, PredictResponse{Predictions: []Prediction{{Class: 1, Label: "1", Probability: 0.5, Probabilities: []float32{0.5, 0.5}}}})
		if want := `{"predictions":[{"class":1,"label":"1","probability":0.5,"probabilities":[0.5,0.5]}]}` + "\n"; w.Code != 200 || w.Body.String() != want {
			t.Fatalf("%d %q, want %q", w.Code, w.Body.String(), want)
		}
	}
	w := httptest.NewRecorder()
	writeJSON(w, 200, PredictResponse{Predictions: []Prediction{{Probability: float32(math.NaN())}}})
	if want := `{"error":"encode answer: json: unsupported value: NaN"}` + "\n"; w.Code != 500 || w.Body.String() != want || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q, want 500 %q", w.Code, w.Body.String(), want)
	}
}

// TestReadBody reads bodies with and without a Content-Length, up to the
// limit and past it.
func TestReadBody(t *testing.T) {
	h := &handler{maxBody: 100}
	for _, c := range []struct {
		n       int
		length  int64 // ContentLength; -1 unknown (chunked)
		wantErr int
	}{{0, 0, 0}, {10, 10, 0}, {100, 100, 0}, {100, -1, 0}, {99, -1, 0}, {101, -1, 413}, {101, 101, 413}, {600, -1, 413}, {1, -1, 0}} {
		body := bytes.Repeat([]byte("x"), c.n)
		r := httptest.NewRequest("POST", "/v1/models/m:predict", bytes.NewReader(body))
		r.ContentLength = c.length
		got, err := h.readBody(httptest.NewRecorder(), r)
		switch {
		case c.wantErr != 0 && (err == nil || statusOf(err) != c.wantErr):
			t.Errorf("%d bytes, length %d: err %v, want status %d", c.n, c.length, err, c.wantErr)
		case c.wantErr == 0 && (err != nil || !bytes.Equal(got, body)):
			t.Errorf("%d bytes, length %d: %d bytes, %v", c.n, c.length, len(got), err)
		}
	}
}
