package forward

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/serve/inference"
)

// remoteModel is a model version held by other peers.
type remoteModel struct {
	c       *Catalog
	name    string
	version int
	sig     inference.Signature
}

func (m *remoteModel) Name() string { return m.name }
func (m *remoteModel) Version() int { return m.version }

// Signature returns a copy the caller may keep and change.
func (m *remoteModel) Signature() inference.Signature {
	s := m.sig
	s.InputShape = slices.Clone(m.sig.InputShape)
	s.Labels = slices.Clone(m.sig.Labels)
	return s
}

// Check validates one input against the signature: a string for a text
// model, InputSize finite numbers for an image model. The holder checks
// again.
func (m *remoteModel) Check(in inference.Input) error {
	if m.sig.Kind == inference.KindText {
		if _, ok := in.(string); !ok {
			return fmt.Errorf("%w: this text model takes a string, not %T", inference.ErrBadInput, in)
		}
		return nil
	}
	v, err := floats(in)
	if err != nil {
		return err
	}
	if len(v) != m.sig.InputSize {
		return fmt.Errorf("%w: this model takes %d numbers, got %d", inference.ErrBadInput, m.sig.InputSize, len(v))
	}
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("%w: input holds a value that is not finite", inference.ErrBadInput)
		}
	}
	return nil
}

// floats converts a numeric input to float32s.
func floats(in inference.Input) ([]float32, error) {
	switch t := in.(type) {
	case []float32:
		return t, nil
	case []float64:
		out := make([]float32, len(t))
		for i, f := range t {
			out[i] = float32(f)
		}
		return out, nil
	case string:
		return nil, fmt.Errorf("%w: this model takes a vector of numbers, not text", inference.ErrBadInput)
	}
	return nil, fmt.Errorf("%w: input of type %T, want a vector of numbers", inference.ErrBadInput, in)
}

// Predict sends the inputs to the best holder of the version and, when it
// fails or runs out of its share of the deadline, to the next; peers that
// fail are backed off. The peer that answered goes into the context's
// inference.Route.
func (m *remoteModel) Predict(ctx context.Context, inputs []inference.Input) ([]inference.Prediction, error) {
	if len(inputs) == 0 {
		return []inference.Prediction{}, nil
	}
	rq := request{Op: opPredict, Model: m.name, Version: m.version}
	for i, in := range inputs {
		if m.sig.Kind == inference.KindText {
			s, ok := in.(string)
			if !ok {
				return nil, fmt.Errorf("%w: input %d is %T, want a string", inference.ErrBadInput, i+1, in)
			}
			rq.Texts = append(rq.Texts, s)
			continue
		}
		v, err := floats(in)
		if err != nil {
			return nil, fmt.Errorf("input %d: %w", i+1, err)
		}
		rq.Vectors = append(rq.Vectors, v)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.c.opt.Timeout)
		defer cancel()
	}
	start := time.Now()
	hs := m.c.holders(m.name, m.version)
	if len(hs) == 0 {
		return nil, fmt.Errorf("%w: no live peer serves %s version %d now", inference.ErrNotReady, m.name, m.version)
	}
	var last error
	var tried []string
	for i, h := range hs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s version %d: %w after trying %v", m.name, m.version, err, tried)
		}
		actx, cancel := attemptContext(ctx, len(hs)-i)
		dl, _ := actx.Deadline()
		rq.Timeout = time.Until(dl)
		b, err := encodeRequest(rq)
		if err != nil {
			cancel()
			return nil, err
		}
		rs, err := m.c.exchange(actx, h.id, b)
		cancel()
		tried = append(tried, shortID(h.id.String()))
		if err == nil && rs.Status == statusPredictions && len(rs.Preds) != len(inputs) {
			err = fmt.Errorf("peer %s gave %d answers for %d inputs", shortID(h.id.String()), len(rs.Preds), len(inputs))
		} else if err == nil && rs.Status != statusPredictions {
			err = fmt.Errorf("peer %s answered with status %d", shortID(h.id.String()), rs.Status)
		}
		if err == nil {
			m.c.succeeded(h.id)
			if rt := inference.RouteOf(ctx); rt != nil {
				rt.SetPeer(h.id.String())
			}
			m.c.log.Debug("route", "model", m.name, "version", m.version, "inputs", len(inputs),
				"peer", h.id.String(), "attempts", i+1, "took", time.Since(start))
			return rs.Preds, nil
		}
		last = err
		if !retryable(err) {
			return nil, err
		}
		m.c.penalise(h.id, m.name, err)
	}
	if errors.Is(last, context.DeadlineExceeded) || ctx.Err() != nil {
		return nil, fmt.Errorf("%s version %d: %w: no peer answered in time (tried %v): %v", m.name, m.version, context.DeadlineExceeded, tried, last)
	}
	if errorKind(last) == errInternal {
		// Unreachable or broken peers: the mesh cannot answer now (503).
		return nil, fmt.Errorf("%w: %s version %d: no peer answered (tried %v): %w", inference.ErrNotReady, m.name, m.version, tried, last)
	}
	return nil, fmt.Errorf("%s version %d: no peer answered (tried %v): %w", m.name, m.version, tried, last)
}
