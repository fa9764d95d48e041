package job

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/text"
	"github.com/shoalmesh/shoal/engine/train"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// Cut reads the job's data as the submitter, cuts the training rows into
// shards of spec.ShardRows rows (file order, so the same data always gives
// the same shard ids), puts them into store and returns the manifest with
// the prepared data (the caller may use its test set).
func Cut(spec Spec, store *shards.Store) (Manifest, *train.Prepared, error) {
	p, err := train.PrepareData(train.DataOptions{Path: spec.Data, Holdout: spec.Holdout})
	if err != nil {
		return Manifest{}, nil, err
	}
	m := Manifest{Kind: p.Kind, Labels: p.Labels, SampleShape: slices.Clone(p.Train.SampleShape), VocabCap: p.VocabCap}
	if p.Encoder != nil {
		if m.Encoder, err = json.Marshal(p.Encoder); err != nil {
			return Manifest{}, nil, err
		}
	}
	put := func(d *data.Dataset, from, to int) (ShardRef, error) {
		w := d.SampleSize()
		b, err := shards.EncodeRows(shards.Rows{Width: w, X: d.X[from*w : to*w], Y: d.Y[from:to]})
		if err != nil {
			return ShardRef{}, err
		}
		id, err := store.Put(b)
		return ShardRef{ID: id.String(), Rows: to - from}, err
	}
	tr := p.Train
	if spec.Private {
		// Private data never leaves a peer: no shards, no probe; each
		// member trains and evaluates on its own files (see loadPrivate).
		return m, p, nil
	}
	seen := map[string]bool{}
	for from := 0; from < tr.N; from += spec.ShardRows {
		ref, err := put(tr, from, min(from+spec.ShardRows, tr.N))
		if err != nil {
			return Manifest{}, nil, err
		}
		// A data set that repeats itself can cut into byte-identical
		// shards: one id, the same rows. It is listed once (a manifest
		// naming a shard twice is refused), its rows counted once.
		if seen[ref.ID] {
			continue
		}
		seen[ref.ID] = true
		m.Shards = append(m.Shards, ref)
		m.TrainRows += ref.Rows
	}
	probeFrom := p.Test
	if probeFrom == nil || probeFrom.N == 0 {
		probeFrom = tr // no hold-out: the probe shows training accuracy
	}
	if m.Probe, err = put(probeFrom, 0, min(probeRows, probeFrom.N)); err != nil {
		return Manifest{}, nil, err
	}
	if m.Probe.ID == m.Shards[0].ID {
		// The probe duplicates a training shard (tiny data without a
		// hold-out); that is fine, but the manifest must not list it twice.
		m.Probe.Rows = m.Shards[0].Rows
	}
	return m, p, nil
}

// encoder decodes the manifest's text encoder (nil for images).
func (m *Manifest) encoder() (*text.Encoder, error) {
	if len(m.Encoder) == 0 {
		return nil, nil
	}
	return text.ParseEncoder(m.Encoder)
}

// BuildModel builds the job's model from its seed: every member starts from
// the same bits, which averaging relies on.
func BuildModel(spec Spec, m Manifest) (*nn.Model, error) {
	ns, err := jobSpec(spec, m)
	if err != nil {
		return nil, err
	}
	model, err := nn.Build(ns, spec.Seed)
	if err != nil {
		return nil, fmt.Errorf("job model: %w", err)
	}
	width := 1
	for _, d := range m.SampleShape {
		width *= d
	}
	if model.InputSize() != width {
		return nil, fmt.Errorf("job model takes %d values per sample, the data has %d", model.InputSize(), width)
	}
	return model, nil
}

// loadPrivate reads this peer's own data for the job (path, which its
// operator named: see private.go) with the job's labels and tokenizer, and
// splits off a local hold-out. The job's test rows (a text file's last
// spec.Holdout; an MNIST folder's test files) are left out of both.
func loadPrivate(spec Spec, m Manifest, path string) (trainSet, holdout *data.Dataset, err error) {
	var d *data.Dataset
	if m.Kind == "text" {
		enc, err := m.encoder()
		if err != nil {
			return nil, nil, err
		}
		rows, err := data.ReadTextRows(path)
		if err != nil {
			return nil, nil, err
		}
		if spec.Holdout > 0 && len(rows) > 1 {
			// The job's hold-out (the file's last rows, as train.PrepareData
			// cuts it) is its test set: never train on it.
			rows = rows[:max(1, data.SplitHoldout(len(rows), spec.Holdout))]
		}
		if d, err = data.EncodedTextDataset(rows, enc, m.Labels); err != nil {
			return nil, nil, err
		}
	} else {
		p, err := train.PrepareData(train.DataOptions{Path: path})
		if err != nil {
			return nil, nil, err
		}
		d = p.Train
	}
	if d.N < 2 {
		return nil, nil, fmt.Errorf("private data %s: %d rows, need at least 2", path, d.N)
	}
	// This peer's files are not the submitter's: check they fit the job's
	// model and classes before a batch indexes past either.
	width := 1
	for _, x := range m.SampleShape {
		width *= x
	}
	if d.SampleSize() != width {
		return nil, nil, fmt.Errorf("private data %s: samples of %d values, the job's have %d", path, d.SampleSize(), width)
	}
	for i, y := range d.Y {
		if !(y >= 0 && int(y) < len(m.Labels)) || y != float32(int(y)) {
			return nil, nil, fmt.Errorf("private data %s: row %d has class %v, the job has %d classes", path, i+1, y, len(m.Labels))
		}
	}
	cut := d.N - max(1, min(probeRows, int(float64(d.N)*privateHoldout)))
	return d.Slice(0, cut), d.Slice(cut, d.N), nil
}

// datasetOf joins decoded shards into one dataset (copying).
func datasetOf(rows []shards.Rows, shape []int, labels []string) *data.Dataset {
	d := &data.Dataset{SampleShape: slices.Clone(shape), Labels: labels}
	for _, r := range rows {
		d.X = append(d.X, r.X...)
		d.Y = append(d.Y, r.Y...)
		d.N += r.N()
	}
	return d
}
