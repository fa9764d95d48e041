package tfserving

import (
	"context"
	"net/http"

	"github.com/shoalmesh/shoal/serve/inference"
)

// Prediction is one instance's answer in the row form: every named output
// of the model.
type Prediction struct {
	Class         int       `json:"class"`
	Label         string    `json:"label"`
	Probability   float32   `json:"probability"`
	Probabilities []float32 `json:"probabilities"`
}

// PredictResponse answers a row-form :predict.
type PredictResponse struct {
	Predictions []Prediction `json:"predictions"`
}

// Outputs is the columnar form of the same outputs: one list per output,
// one entry per input.
type Outputs struct {
	Class         []int       `json:"class"`
	Label         []string    `json:"label"`
	Probability   []float32   `json:"probability"`
	Probabilities [][]float32 `json:"probabilities"`
}

// ColumnarResponse answers a columnar :predict.
type ColumnarResponse struct {
	Outputs Outputs `json:"outputs"`
}

// ClassifyResponse answers :classify: per example, a [label, score] pair
// per class in label order. The key is "results", as TF Serving's code
// writes it and its curl examples show; the prose of api_rest.md says
// "result".
type ClassifyResponse struct {
	Results [][][2]any `json:"results"`
}

// RegressResponse answers :regress: one value per example.
type RegressResponse struct {
	Results []float32 `json:"results"`
}

// predictBody is a decoded :predict body: read by the fast path
// (scanDense) when it could, else by DecodePredictRequest.
type predictBody struct {
	body  []byte
	dense *denseBody     // set when scanDense read body
	req   PredictRequest // otherwise
}

// decodePredict decodes a :predict body, with DecodePredictRequest's
// errors.
func decodePredict(body []byte) (predictBody, error) {
	if d, ok := scanDense(body); ok {
		return predictBody{body: body, dense: d}, nil
	}
	req, err := DecodePredictRequest(body)
	return predictBody{body: body, req: req}, err
}

func (p *predictBody) signatureName() string {
	if p.dense != nil {
		return p.dense.signature
	}
	return p.req.SignatureName
}

func (p *predictBody) columnar() bool {
	if p.dense != nil {
		return p.dense.columnar
	}
	return p.req.Columnar
}

// inputs turns the body into model inputs for sig, with rowInputs' and
// columnarInputs' errors: where the fast path cannot build them, the
// generic path decodes the body again and says why.
func (p *predictBody) inputs(sig inference.Signature, maxBatch int) ([]inference.Input, error) {
	if p.dense != nil {
		if in, ok := p.dense.inputs(sig, maxBatch); ok {
			return in, nil
		}
		req, err := DecodePredictRequest(p.body)
		if err != nil {
			// scanDense takes only bodies that decode.
			return nil, newError(http.StatusInternalServerError, "the :predict fast path read a body the generic path refuses: %v", err)
		}
		p.dense, p.req = nil, req
	}
	if p.req.Columnar {
		return columnarInputs(p.req.Inputs, sig, maxBatch)
	}
	return rowInputs(p.req.Instances, sig, maxBatch)
}

// predict answers :predict.
func (h *handler) predict(ctx context.Context, rt route, body []byte) (any, error) {
	req, err := decodePredict(body)
	if err != nil {
		return nil, err
	}
	if err := checkSignature(req.signatureName()); err != nil {
		return nil, err
	}
	m, err := h.lookup(rt)
	if err != nil {
		return nil, err
	}
	inputs, err := req.inputs(m.Signature(), h.maxBatch)
	if err != nil {
		return nil, err
	}
	preds, err := h.run(ctx, rt, m, inputs)
	if err != nil {
		return nil, err
	}
	if req.columnar() {
		out := Outputs{
			Class:         make([]int, len(preds)),
			Label:         make([]string, len(preds)),
			Probability:   make([]float32, len(preds)),
			Probabilities: make([][]float32, len(preds)),
		}
		for i, p := range preds {
			out.Class[i], out.Label[i], out.Probability[i] = p.Class, p.Label, float32(p.Probability)
			out.Probabilities[i] = float32s(p.Probabilities)
		}
		return ColumnarResponse{Outputs: out}, nil
	}
	resp := PredictResponse{Predictions: make([]Prediction, len(preds))}
	for i, p := range preds {
		resp.Predictions[i] = Prediction{Class: p.Class, Label: p.Label, Probability: float32(p.Probability), Probabilities: float32s(p.Probabilities)}
	}
	return resp, nil
}

// classifyOrRegress answers :classify and :regress. Regression needs a
// model with one output; shoal's classifiers (two classes or more) are
// refused.
func (h *handler) classifyOrRegress(ctx context.Context, rt route, body []byte) (any, error) {
	req, err := DecodeClassifyRequest(body, rt.verb)
	if err != nil {
		return nil, err
	}
	if err := checkSignature(req.SignatureName); err != nil {
		return nil, err
	}
	m, err := h.lookup(rt)
	if err != nil {
		return nil, err
	}
	sig := m.Signature()
	if rt.verb == verbRegress && len(sig.Labels) != 1 {
		return nil, badRequest("Model %s version %d is a classifier with %d outputs; :regress needs a model with one output (use :classify or :predict)", m.Name(), m.Version(), len(sig.Labels))
	}
	inputs, err := exampleInputs(req, sig, h.maxBatch)
	if err != nil {
		return nil, err
	}
	preds, err := h.run(ctx, rt, m, inputs)
	if err != nil {
		return nil, err
	}
	if rt.verb == verbRegress {
		resp := RegressResponse{Results: make([]float32, len(preds))}
		for i, p := range preds {
			if len(p.Probabilities) != 1 {
				return nil, newError(http.StatusInternalServerError, "model gave %d outputs for example %d, want 1", len(p.Probabilities), i)
			}
			resp.Results[i] = float32(p.Probabilities[0])
		}
		return resp, nil
	}
	resp := ClassifyResponse{Results: make([][][2]any, len(preds))}
	for i, p := range preds {
		pairs := make([][2]any, len(p.Probabilities))
		for j, q := range p.Probabilities {
			label := ""
			if j < len(sig.Labels) {
				label = sig.Labels[j]
			}
			pairs[j] = [2]any{label, float32(q)}
		}
		resp.Results[i] = pairs
	}
	return resp, nil
}

// run checks each input, then predicts them as one batch.
func (h *handler) run(ctx context.Context, rt route, m inference.Model, inputs []inference.Input) ([]inference.Prediction, error) {
	for i, in := range inputs {
		if err := m.Check(in); err != nil {
			return nil, badRequest("Input %d: %v", i, err)
		}
	}
	preds, err := m.Predict(ctx, inputs)
	if err != nil {
		status := statusOf(err)
		if status == http.StatusNotFound {
			// The version went away between lookup and predict.
			return nil, h.lookupError(rt, err)
		}
		return nil, newError(status, "%v", err)
	}
	if len(preds) != len(inputs) {
		return nil, newError(http.StatusInternalServerError, "model answered %d predictions for %d inputs", len(preds), len(inputs))
	}
	return preds, nil
}

func float32s(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}
