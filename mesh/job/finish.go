package job

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/atomicfile"
	"github.com/shoalmesh/shoal/engine/modelfile"
)

// finish waits for the other members to finish training, runs the consensus
// phase, adopts the common final vector and publishes the model.
func (r *runner) finish(ctx context.Context, res *Result) error {
	// Members still training keep averaging with this peer: it answers
	// them rather than refuse each as "averaged this period".
	r.av.EndPeriods()
	r.setState(StateTrained)
	deadline := time.NewTimer(r.m.cfg.FinishWait)
	defer deadline.Stop()
	tick := time.NewTicker(finishPollEvery)
	defer tick.Stop()
	hold := time.NewTimer(expectedHold)
	defer hold.Stop()
	holding := true
wait:
	for {
		missing := r.missingExpected()
		if r.othersTrained() && (!holding || len(missing) == 0) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			r.log.Warn("members still training after the wait; ending without them")
			break wait
		case <-hold.C:
			if len(missing) > 0 {
				r.log.Warn("members seen while training are still out of sight; agreeing without them", "missing", len(missing))
			}
			holding = false
		case <-r.js.wake:
		case <-tick.C:
			r.publish(finishStatusEvery)
		}
	}
	r.setState(StateConsensus)
	r.av.SetConsensus(true)
	candidates := func() []peer.ID {
		// Consensus calls this before every round, on this goroutine: keep
		// the status going, or after StatusTimeout of silence the others
		// drop this peer from their members (and from Finalize's order).
		r.publish(finishStatusEvery)
		return without(r.m.members(r.spec.ID, true), r.m.node.ID())
	}
	if len(candidates()) > 0 { // alone, a peer is its own consensus
		rounds, err := r.av.Consensus(ctx, candidates, consensusTarget(r.spec.Compress), consensusMaxRounds)
		res.ConsensusRounds = rounds
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil {
			r.log.Warn("consensus did not reach its target", "err", err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, finalTimeout)
	defer cancel()
	// A peer that comes late (restarted after others finished) adopts what
	// the finished ones hold; the others agree among the live members.
	var paramsHash string
	var err error
	if done := r.finishedMembers(); len(done) > 0 {
		paramsHash, err = r.av.AdoptFinal(fctx, done)
	} else {
		paramsHash, err = r.av.Finalize(fctx, r.m.members(r.spec.ID, false))
	}
	if err != nil {
		return fmt.Errorf("final agreement: %w", err)
	}
	r.log.Info("final parameters", "sha256", paramsHash)
	r.checkFinite()
	res.ParamsHash = paramsHash
	r.evaluateProbe()
	res.ProbeAccuracy = r.st.Accuracy
	if err := r.publishModel(res); err != nil {
		return err
	}
	t := r.av.Totals()
	res.Exchanges, res.Rejected = t.Exchanges+t.Served, t.Rejected
	res.BytesSent, res.BytesRecv, res.Distance = t.BytesSent, t.BytesRecv, t.LastDistance
	res.NonFinite = r.nonFinite
	r.st.Hash, r.st.Version = res.ModelHash, res.Version
	if dir := r.m.jobDir(r.spec.ID); dir != "" {
		_ = atomicfile.WriteFile(filepath.Join(dir, "done"), []byte(res.ModelHash+"\n"))
	}
	return nil
}

// consensusTarget is the distance the consensus phase of a job sending
// compress stops at: ConsensusTarget, or for int8 the floor that its
// quantization noise leaves between peers (pair estimates of 1.2e-2 to
// 1.7e-2 on the MNIST mlp, 8 peers; 2e-2 was once missed for 200 rounds
// under load) with a 2x margin. Every peer then adopts one member's vector,
// so the final model sits about that far from the mean: the size of the
// rounding that an int8 copy of the model carries anyway.
func consensusTarget(compress string) float64 {
	if compress == "int8" {
		return int8ConsensusTarget
	}
	return ConsensusTarget
}

// finishedMembers lists the live members that have finished the job: they
// hold the vector the mesh agreed on.
func (r *runner) finishedMembers() []peer.ID {
	sts := r.m.memberStatuses(r.spec.ID)
	var done []peer.ID
	for _, p := range r.m.members(r.spec.ID, false) {
		if p != r.m.node.ID() && sts[p].State == StateDone {
			done = append(done, p)
		}
	}
	return done
}

// missingExpected lists the members seen while training that are neither
// live now nor known to have finished or failed: across a network split,
// agreeing without them would give each side its own final model.
func (r *runner) missingExpected() []peer.ID {
	live := r.m.members(r.spec.ID, false)
	sts := r.m.memberStatuses(r.spec.ID)
	var out []peer.ID
	for p := range r.expected {
		if p == r.m.node.ID() || slices.Contains(live, p) {
			continue
		}
		if st := sts[p].State; st == StateDone || st == StateFailed {
			continue
		}
		out = append(out, p)
	}
	return out
}

// othersTrained reports whether every live member is past training.
func (r *runner) othersTrained() bool {
	live := r.m.members(r.spec.ID, false)
	sts := r.m.memberStatuses(r.spec.ID)
	for _, p := range live {
		if p == r.m.node.ID() {
			continue
		}
		if stateRank[sts[p].State] < stateRank[StateTrained] {
			return false
		}
	}
	return true
}

// publishModel writes the final model into the store. Everything in the
// file comes from the job, never from this peer, so every peer writes the
// same bytes.
func (r *runner) publishModel(res *Result) error {
	enc, err := r.manifest.encoder()
	if err != nil {
		return err
	}
	prov := artifact.Provenance{
		Created: r.spec.SubmitTime(), Model: r.spec.Model, Data: r.spec.Data, Holdout: r.spec.Holdout,
		Seed: r.spec.Seed, Epochs: r.spec.Epochs, Batch: r.spec.Batch, Optimizer: r.spec.Optimizer, LR: r.spec.LR,
	}
	a, err := artifact.New(r.model, r.manifest.Kind, r.manifest.Labels, enc, prov)
	if err != nil {
		return err
	}
	b, _, err := a.Encode()
	if err != nil {
		return err
	}
	v, err := r.m.cfg.Models.Publish(r.spec.Name, b)
	if err != nil {
		return err
	}
	path, err := r.m.cfg.Models.Path(r.spec.Name, v)
	if err != nil {
		return err
	}
	res.Version, res.ModelPath, res.ModelBytes = v, path, int64(len(b))
	res.ModelHash = modelfile.SHA256Hex(b)
	return nil
}
