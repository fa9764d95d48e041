package job

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

func (r *runner) train(ctx context.Context, step int, res *Result) error {
	batch := r.spec.Batch
	width := r.model.InputSize()
	x := make([]float32, batch*width)
	y := make([]float32, batch)
	rng := rand.New(rand.NewPCG(r.seed(), uint64(step)))
	var perm []int
	pos := 0
	var members []peer.ID
	stepsPerEpoch := max(1, r.stepsTotal/r.spec.Epochs)
	r.st.State = StateTraining
	if step >= r.stepsTotal && !r.spec.Private {
		// Resumed from the checkpoint written at training's end: nothing
		// to train, but the shards this peer owns are still its to hold
		// (testnet's churn job lost two when the restarted peer skipped
		// the loop below, and with it every fetch).
		if err := r.refresh(ctx, r.m.members(r.spec.ID, true)); err != nil {
			return err
		}
	}
	for outer := 1; step < r.stepsTotal; outer++ {
		if now := r.m.members(r.spec.ID, true); r.local == nil || !slices.Equal(now, members) {
			members = now
			if r.expected == nil {
				r.expected = map[peer.ID]bool{}
			}
			for _, p := range now {
				r.expected[p] = true
			}
			if !r.spec.Private {
				if err := r.refresh(ctx, members); err != nil {
					return err
				}
				perm, pos = nil, 0
			}
			r.st.State = StateTraining
		} else if !r.spec.Private && len(r.primary) < len(r.want) {
			n := r.local.N
			if err := r.absorb(); err != nil {
				return err
			}
			if r.local.N != n {
				perm, pos = nil, 0 // draw over the rows that arrived too
			}
		}
		r.av.BeginOuter() // no-op unless the job sets an outer learning rate
		if r.local.N == 0 {
			// Nothing to train on yet: average only, so this peer still helps.
			step = min(step+r.spec.LocalSteps, r.stepsTotal)
		}
		for h := 0; h < r.spec.LocalSteps && step < r.stepsTotal && r.local.N > 0; h++ {
			n := min(batch, r.local.N)
			if perm == nil || pos+n > len(perm) {
				perm = rng.Perm(r.local.N)
				pos = 0
			}
			r.local.Batch(perm[pos:pos+n], x[:n*width], y[:n])
			pos += n
			r.av.Lock()
			loss := r.model.TrainBatch(x[:n*width], y[:n], n)
			r.opt.Step(r.model.Params(), r.model.Grads())
			r.av.Unlock()
			r.av.AddSamples(n)
			if l := float64(loss); !math.IsNaN(l) && !math.IsInf(l, 0) {
				r.st.Loss = l // a status cannot carry NaN (nor can JSON)
			}
			step++
			if step%stepsPerEpoch == 0 {
				r.evaluateProbe()
				// Publish each epoch's accuracy when it is measured: the
				// status after the round is throttled (trainStatusEvery)
				// and, once the target stops training, carries the
				// evaluation after one more round instead, so watchers
				// (make bench-speedup's time to accuracy) saw a crossing
				// late or never.
				r.st.Step, r.st.Epoch = step, min(r.spec.Epochs, step/stepsPerEpoch)
				r.publish(0)
				if r.spec.TargetAccuracy > 0 && r.st.Accuracy >= r.spec.TargetAccuracy {
					r.log.Info("target accuracy reached", "accuracy", r.st.Accuracy)
					step = r.stepsTotal
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.st.Step, r.st.Epoch = step, min(r.spec.Epochs, step/stepsPerEpoch+1)
		if others := without(members, r.m.node.ID()); len(others) > 0 {
			res.Periods++
			if _, err := r.av.Round(ctx, others); err != nil {
				r.log.Debug("averaging round failed", "err", err)
			} else {
				res.Rounds++
				r.st.Rounds = res.Rounds
			}
		}
		r.av.OuterStep()
		r.checkFinite()
		// Every checkpointEvery outer rounds, counted whether or not the
		// exchange worked (keyed on successful rounds, a peer whose rounds
		// fail, or that is alone, would write one after every H steps).
		if outer%checkpointEvery == 0 || step >= r.stepsTotal {
			r.saveCheckpoint(step)
		}
		r.publish(trainStatusEvery)
	}
	res.Steps = step
	t := r.av.Totals()
	res.TrainBytesSent, res.TrainExchanges = t.BytesSent, t.Exchanges+t.Served
	res.MaxRoundShift = t.MaxShift
	r.evaluateProbe()
	return nil
}

func without(ids []peer.ID, self peer.ID) []peer.ID {
	return slices.DeleteFunc(slices.Clone(ids), func(p peer.ID) bool { return p == self })
}

func (r *runner) evaluateProbe() {
	if r.probe == nil || r.probe.N == 0 {
		return
	}
	r.av.Lock()
	loss, acc := r.model.Evaluate(r.probe.X, r.probe.Y, r.probe.N, evalBatch)
	r.av.Unlock()
	if !math.IsNaN(loss) && !math.IsInf(loss, 0) {
		r.st.Loss = loss
	}
	r.st.Accuracy = acc
}

// checkFinite counts the times this peer's parameters held NaN or Inf (the
// guard rails should keep that at zero on honest peers).
func (r *runner) checkFinite() {
	r.av.Lock()
	defer r.av.Unlock()
	for _, v := range r.model.Params() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			r.nonFinite++
			return
		}
	}
}
