package job

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/train"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// The two reference points of `shoal testnet --baseline`, computed in one
// process on the same data, seed and hyper-parameters as the mesh job:
//
//   - Baseline: the model trained alone for the same epochs on all rows.
//   - FedAvg: the same N-way split (each member trains on the shards it is
//     first owner of), the same local steps H and step budget, but after
//     every H steps all N models are replaced by their exact average — what
//     a parameter server would compute.

// Baseline trains the job's model alone and returns its test metrics.
func Baseline(ctx context.Context, spec Spec, m Manifest, trainSet, testSet *data.Dataset) (train.Metrics, error) {
	model, err := BuildModel(spec, m)
	if err != nil {
		return train.Metrics{}, err
	}
	_, err = train.Fit(ctx, model, trainSet, nil, train.Config{
		Epochs: spec.Epochs, BatchSize: spec.Batch, Seed: spec.Seed,
		Optimizer: nn.OptimizerConfig{Name: spec.Optimizer, LR: spec.LR},
	})
	if err != nil {
		return train.Metrics{}, err
	}
	return train.Evaluate(model, testSet, 0)
}

// FedAvg simulates server-side averaging over members with the job's shard
// split, reading shards from store, and returns the test metrics of the
// averaged model.
func FedAvg(ctx context.Context, spec Spec, m Manifest, store *shards.Store, members []peer.ID, testSet *data.Dataset) (train.Metrics, error) {
	n := len(members)
	split := make([][]shards.Rows, n)
	owned := make([][]shards.Rows, n) // shards member i is any owner of
	for _, ref := range m.Shards {
		id, err := shards.ParseID(ref.ID)
		if err != nil {
			return train.Metrics{}, err
		}
		owners := shards.Owners(id, members, spec.Replication)
		b, ok := store.Get(id)
		if !ok {
			return train.Metrics{}, fmt.Errorf("fedavg: shard %s not in the store", id.Short())
		}
		rows, err := shards.DecodeRows(b)
		if err != nil {
			return train.Metrics{}, err
		}
		for i, p := range members {
			if p == owners[0] {
				split[i] = append(split[i], rows)
			}
			if slices.Contains(owners, p) {
				owned[i] = append(owned[i], rows)
			}
		}
	}
	for i := range split {
		if len(split[i]) == 0 {
			// As runner.refresh does with more peers than shards: a member
			// that is first owner of nothing trains on the shards it owns.
			split[i] = owned[i]
		}
	}
	type worker struct {
		model *nn.Model
		opt   nn.Optimizer
		data  *data.Dataset
		rng   *rand.Rand
		perm  []int
		pos   int
	}
	workers := make([]*worker, n)
	for i := range workers {
		model, err := BuildModel(spec, m)
		if err != nil {
			return train.Metrics{}, err
		}
		opt, err := nn.NewOptimizer(nn.OptimizerConfig{Name: spec.Optimizer, LR: spec.LR}, model.NumParams())
		if err != nil {
			return train.Metrics{}, err
		}
		model.SetSeed(spec.Seed + uint64(i))
		workers[i] = &worker{model: model, opt: opt, data: datasetOf(split[i], m.SampleShape, m.Labels), rng: rand.New(rand.NewPCG(spec.Seed, uint64(i)))}
	}
	budget := stepBudget(spec, m.TrainRows, n)
	width := workers[0].model.InputSize()
	x := make([]float32, spec.Batch*width)
	y := make([]float32, spec.Batch)
	mean := make([]float32, workers[0].model.NumParams())
	for step := 0; step < budget; {
		if err := ctx.Err(); err != nil {
			return train.Metrics{}, err
		}
		h := min(spec.LocalSteps, budget-step)
		for _, w := range workers {
			for range h {
				b := min(spec.Batch, w.data.N)
				if b == 0 {
					break
				}
				if w.perm == nil || w.pos+b > len(w.perm) {
					w.perm, w.pos = w.rng.Perm(w.data.N), 0
				}
				w.data.Batch(w.perm[w.pos:w.pos+b], x[:b*width], y[:b])
				w.pos += b
				w.model.TrainBatch(x[:b*width], y[:b], b)
				w.opt.Step(w.model.Params(), w.model.Grads())
			}
		}
		step += h
		clear(mean)
		for _, w := range workers {
			for j, v := range w.model.Params() {
				mean[j] += v
			}
		}
		for j := range mean {
			mean[j] /= float32(n)
		}
		for _, w := range workers {
			copy(w.model.Params(), mean)
		}
	}
	return train.Evaluate(workers[0].model, testSet, 0)
}
