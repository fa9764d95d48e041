package tfserving

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/inference/inferencetest"
)

// mnistLikeBody is a row-form :predict body of one 28×28 instance written
// as cmd/bench-serve writes MNIST test images: 784 float32 shortest
// decimals of pixel/255, about a fifth of them not 0.
func mnistLikeBody(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := []byte(`{"instances":[[`)
	for j := range 784 {
		if j > 0 {
			b = append(b, ',')
		}
		v := float32(0)
		if r.IntN(5) == 0 {
			v = float32(r.IntN(256)) / 255
		}
		b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	}
	return append(b, "]]}"...)
}

// constModel answers every input with the same prediction and keeps
// nothing, so a benchmark measures the handler.
type constModel struct{ sig inference.Signature }

func (m constModel) Name() string                   { return "mnist" }
func (m constModel) Version() int                   { return 1 }
func (m constModel) Signature() inference.Signature { return m.sig }
func (m constModel) Check(inference.Input) error    { return nil }
func (m constModel) Predict(_ context.Context, in []inference.Input) ([]inference.Prediction, error) {
	out := make([]inference.Prediction, len(in))
	for i := range out {
		out[i] = inference.Prediction{Class: 3, Label: "3", Probability: 0.91,
			Probabilities: []float64{0.001, 0.002, 0.003, 0.91, 0.004, 0.005, 0.006, 0.007, 0.008, 0.054}}
	}
	return out, nil
}

type constCatalog struct{ m constModel }

func (c constCatalog) Names() []string { return []string{"mnist"} }
func (c constCatalog) Lookup(string, int, string) (inference.Model, error) {
	return c.m, nil
}
func (c constCatalog) Versions(string) ([]inference.VersionStatus, error) {
	return []inference.VersionStatus{{Version: 1, State: inference.StateAvailable}}, nil
}
func (c constCatalog) Labels(string) (map[string]int, error) { return nil, nil }

// discardWriter is an http.ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

// BenchmarkPredictMNIST is one :predict of one MNIST-like image through
// the handler (body read, decode, inputs, answer), against a model that
// costs nothing.
func BenchmarkPredictMNIST(b *testing.B) {
	body := mnistLikeBody(1)
	h := NewHandler(constCatalog{constModel{inferencetest.MNISTSignature()}}, Options{})
	w := &discardWriter{h: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	rd := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/v1/models/mnist:predict", rd)
	for b.Loop() {
		rd.Reset(body)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkDecodeMNIST is the decode of the same body into model inputs
// alone.
func BenchmarkDecodeMNIST(b *testing.B) {
	body := mnistLikeBody(1)
	sig := inferencetest.MNISTSignature()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := DecodePredictRequest(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rowInputs(req.Instances, sig, DefaultMaxBatch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanDenseMNIST is the fast path's decode of the same body into
// model inputs.
func BenchmarkScanDenseMNIST(b *testing.B) {
	body := mnistLikeBody(1)
	sig := inferencetest.MNISTSignature()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := decodePredict(body)
		if err != nil || req.dense == nil {
			b.Fatal(err, "not the fast path")
		}
		if _, err := req.inputs(sig, DefaultMaxBatch); err != nil {
			b.Fatal(err)
		}
	}
}
