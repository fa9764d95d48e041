package job

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/atomicfile"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/mesh/avg"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// ConsensusTarget is the relative consensus distance the end of a job
// reaches before every peer adopts the same final vector.
const ConsensusTarget = 1e-3

// Result is how a job ended on one peer.
type Result struct {
	ModelName  string `json:"model_name"`
	Version    int    `json:"model_version"`
	ModelPath  string `json:"model_path"`
	ModelHash  string `json:"model_hash"`  // SHA-256 of the model file
	ParamsHash string `json:"params_hash"` // SHA-256 of the final parameter vector
	ModelBytes int64  `json:"model_bytes"`
	Steps      int    `json:"steps"`
	// Rounds counts the averaging rounds this peer started and completed
	// while training; ConsensusRounds those of the consensus phase.
	Rounds          int     `json:"averaging_rounds"`
	ConsensusRounds int     `json:"consensus_rounds"`
	Exchanges       int64   `json:"exchanges"` // completed, started by either side
	Rejected        int64   `json:"rejected"`
	BytesSent       int64   `json:"bytes_sent"`
	BytesRecv       int64   `json:"bytes_recv"`
	Distance        float64 `json:"consensus_distance"`
	ProbeAccuracy   float64 `json:"probe_accuracy"`
	NonFinite       int     `json:"non_finite_seen"` // times this peer's params held NaN/Inf
	// TrainBytesSent and TrainExchanges cover the training phase only
	// (the consensus phase and the final fetch are not averaging rounds).
	TrainBytesSent int64 `json:"train_bytes_sent"`
	TrainExchanges int64 `json:"train_exchanges"`
	// MaxRoundShift is the largest relative change ‖after − before‖/‖before‖
	// one averaging exchange of the training phase (started by either side)
	// made to this peer's parameters: honest partners move it by a few
	// percent, a partner that slips a scaled vector past the guard rails by
	// far more than 1 (avg.Totals.MaxShift).
	MaxRoundShift float64 `json:"max_round_shift"`
	// ResumedFrom is the step this peer's run resumed from after a
	// restart (0: it started afresh).
	ResumedFrom int `json:"resumed_from"`
}

type runner struct {
	m        *Manager
	js       *jobState
	spec     Spec
	manifest Manifest
	log      *slog.Logger

	model   *nn.Model
	opt     nn.Optimizer
	av      *avg.Averager
	ids     []shards.ID
	probe   *data.Dataset
	local   *data.Dataset
	primary []shards.ID

	st         Status
	lastPub    time.Time
	sentHave   int
	stepsTotal int
	nonFinite  int
}

func (r *runner) status() Status { return r.st }

// publish sends the status now, or only if the last one is older than
// every (0: always).
func (r *runner) publish(every time.Duration) {
	if every > 0 && time.Since(r.lastPub) < every {
		return
	}
	r.lastPub = time.Now()
	t := r.av.Totals()
	r.st.BytesSent, r.st.BytesRecv, r.st.Distance = t.BytesSent, t.BytesRecv, t.LastDistance
	r.st.Have = nil
	if held := r.held(); len(held) != r.sentHave || every == 0 {
		r.st.Have = held
		r.sentHave = len(held)
	}
	r.m.publishStatus(r.js, r.st)
}

func (r *runner) setState(s string) {
	r.st.State = s
	r.publish(0)
}

func (r *runner) held() []string {
	var out []string
	for _, id := range r.ids {
		if r.m.shards.Has(id) {
			out = append(out, id.String())
		}
	}
	return out
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	r.st = Status{Job: r.spec.ID, Peer: r.m.node.ID().String(), State: StateJoined}
	for _, ref := range r.manifest.Shards {
		id, err := shards.ParseID(ref.ID)
		if err != nil {
			return nil, err
		}
		r.ids = append(r.ids, id)
	}
	model, err := BuildModel(r.spec, r.manifest)
	if err != nil {
		return nil, err
	}
	r.model = model
	if r.opt, err = nn.NewOptimizer(nn.OptimizerConfig{Name: r.spec.Optimizer, LR: r.spec.LR}, model.NumParams()); err != nil {
		return nil, err
	}
	model.SetSeed(r.seed())
	cfg := avg.Config{Seed: r.seed(), OuterLR: r.spec.OuterLR}
	cfg.Encoding, _ = avg.ParseEncoding(r.spec.Compress)
	cfg.Robust, _ = avg.ParseRobust(r.spec.Robust)
	if r.m.cfg.Averaging != nil {
		r.m.cfg.Averaging(r.spec, &cfg)
	}
	if r.av, err = r.m.avg.Join(r.spec.ID, model.Params(), cfg); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.av.Close()
		}
	}()
	step := r.loadCheckpoint()
	resumedFrom := step
	r.publish(0)

	members, err := r.waitForMembers(ctx)
	if err != nil {
		return nil, err
	}
	if r.spec.Private {
		path := ""
		if r.m.cfg.PrivateData != nil {
			path = r.m.cfg.PrivateData(r.spec)
		}
		if r.local, r.probe, err = loadPrivate(r.spec, r.manifest, path); err != nil {
			return nil, err
		}
		if r.stepsTotal == 0 {
			r.stepsTotal = stepBudget(r.spec, r.local.N, 1)
		}
	} else {
		if r.stepsTotal == 0 {
			r.stepsTotal = stepBudget(r.spec, r.manifest.TrainRows, len(members))
		}
		if err := r.loadProbe(ctx, members); err != nil {
			return nil, err
		}
	}
	r.st.Steps = r.stepsTotal
	res := &Result{ModelName: r.spec.Name, ResumedFrom: resumedFrom}
	if err := r.train(ctx, step, res); err != nil {
		return nil, err
	}
	if err := r.finish(ctx, res); err != nil {
		return nil, err
	}
	ok = true // the averager keeps serving the final vector to late peers
	return res, nil
}

// seed makes this peer's shuffling and partner choice differ from the
// others' but stay reproducible for a given job and peer.
func (r *runner) seed() uint64 {
	h := fnv.New64a()
	h.Write([]byte(r.m.node.ID()))
	return r.spec.Seed ^ h.Sum64()
}

// stepBudget spreads epochs over the members: each peer takes the steps
// that its share of the rows needs, so the mesh does the work of one
// process training alone.
func stepBudget(s Spec, rows, members int) int {
	batch := s.Batch
	return max(1, int(math.Ceil(float64(s.Epochs)*float64(rows)/float64(max(members, 1)*batch))))
}

func (r *runner) waitForMembers(ctx context.Context) ([]peer.ID, error) {
	deadline := time.NewTimer(r.m.cfg.MinPeersWait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		members := r.m.members(r.spec.ID, false)
		if len(members) >= r.spec.MinPeers {
			return members, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("only %d of %d peers joined within %s", len(members), r.spec.MinPeers, r.m.cfg.MinPeersWait)
		case <-r.js.wake:
		case <-tick.C:
			r.publish(0) // a peer that missed our join hears it again
		}
	}
}

// holders lists peers to ask for a shard: members known to hold it first,
// then the other members, then the submitter.
func (r *runner) holders(id shards.ID, members []peer.ID) []peer.ID {
	hex := id.String()
	var known, rest []peer.ID
	for p, st := range r.m.memberStatuses(r.spec.ID) {
		if slices.Contains(st.Have, hex) {
			known = append(known, p)
		}
	}
	for _, p := range members {
		if !slices.Contains(known, p) {
			rest = append(rest, p)
		}
	}
	out := append(known, rest...)
	if sub, err := peer.Decode(r.spec.Submitter); err == nil && !slices.Contains(out, sub) {
		out = append(out, sub)
	}
	return out
}

func (r *runner) fetch(ctx context.Context, id shards.ID, members []peer.ID) error {
	if r.m.shards.Has(id) {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, from, err := shards.FetchAny(fctx, r.m.node.Host(), r.m.node.Protocol(shards.ProtocolName), r.holders(id, members), id)
	if err != nil {
		return err
	}
	r.log.Debug("fetched shard", "shard", id.Short(), "from", from.ShortString())
	return r.m.shards.PutVerified(id, b)
}

func (r *runner) loadProbe(ctx context.Context, members []peer.ID) error {
	id, err := shards.ParseID(r.manifest.Probe.ID)
	if err != nil {
		return err
	}
	if err := r.fetch(ctx, id, members); err != nil {
		return fmt.Errorf("probe shard: %w", err)
	}
	rows, err := r.decode(id)
	if err != nil {
		return err
	}
	r.probe = datasetOf([]shards.Rows{rows}, r.manifest.SampleShape, r.manifest.Labels)
	return nil
}

func (r *runner) decode(id shards.ID) (shards.Rows, error) {
	b, ok := r.m.shards.Get(id)
	if !ok {
		return shards.Rows{}, fmt.Errorf("shard %s not held", id.Short())
	}
	rows, err := shards.DecodeRows(b)
	if err != nil {
		return rows, fmt.Errorf("shard %s: %w", id.Short(), err)
	}
	if want := r.model.InputSize(); rows.Width != want {
		return rows, fmt.Errorf("shard %s: rows of %d values, the model takes %d", id.Short(), rows.Width, want)
	}
	return rows, nil
}

// refresh fetches the shards this peer owns among members and rebuilds the
// local training set when the shards it is first owner of change. A shard
// no holder can serve is skipped (and logged): training goes on with the rest.
func (r *runner) refresh(ctx context.Context, members []peer.ID) error {
	plan := shards.MakePlan(r.m.node.ID(), r.ids, members, r.spec.Replication, r.m.shards.Has,
		func(shards.ID) []peer.ID { return nil })
	if len(plan.Fetch) > 0 {
		r.setState(StateFetching)
	}
	for _, id := range plan.Fetch {
		if err := r.fetch(ctx, id, members); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Warn("shard not fetched", "shard", id.Short(), "err", err)
		}
	}
	var primary []shards.ID
	for _, id := range plan.Own {
		if owners := shards.Owners(id, members, r.spec.Replication); owners[0] == r.m.node.ID() && r.m.shards.Has(id) {
			primary = append(primary, id)
		}
	}
	if len(primary) == 0 {
		// More peers than shards: train on whatever owned shard is held.
		for _, id := range plan.Own {
			if r.m.shards.Has(id) {
				primary = append(primary, id)
			}
		}
	}
	if r.local != nil && slices.Equal(primary, r.primary) {
		return nil
	}
	var rows []shards.Rows
	for _, id := range primary {
		rs, err := r.decode(id)
		if err != nil {
			return err
		}
		rows = append(rows, rs)
	}
	r.primary = primary
	r.local = datasetOf(rows, r.manifest.SampleShape, r.manifest.Labels)
	r.log.Debug("local data", "shards", len(primary), "rows", r.local.N)
	return nil
}

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
	for outer := 1; step < r.stepsTotal; outer++ {
		if now := r.m.members(r.spec.ID, true); r.local == nil || !slices.Equal(now, members) {
			members = now
			if !r.spec.Private {
				if err := r.refresh(ctx, members); err != nil {
					return err
				}
				perm, pos = nil, 0
			}
			r.st.State = StateTraining
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
		r.publish(500 * time.Millisecond)
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
	loss, acc := r.model.Evaluate(r.probe.X, r.probe.Y, r.probe.N, 256)
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

// finish waits for the other members to finish training, runs the consensus
// phase, adopts the common final vector and publishes the model.
func (r *runner) finish(ctx context.Context, res *Result) error {
	r.setState(StateTrained)
	deadline := time.NewTimer(r.m.cfg.FinishWait)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
wait:
	for {
		if r.othersTrained() {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			r.log.Warn("members still training after the wait; ending without them")
			break wait
		case <-r.js.wake:
		case <-tick.C:
			r.publish(2 * time.Second)
		}
	}
	r.setState(StateConsensus)
	r.av.SetConsensus(true)
	candidates := func() []peer.ID {
		// Consensus calls this before every round, on this goroutine: keep
		// the status going, or after StatusTimeout of silence the others
		// drop this peer from their members (and from Finalize's order).
		r.publish(2 * time.Second)
		return without(r.m.members(r.spec.ID, true), r.m.node.ID())
	}
	if len(candidates()) > 0 { // alone, a peer is its own consensus
		rounds, err := r.av.Consensus(ctx, candidates, ConsensusTarget, 200)
		res.ConsensusRounds = rounds
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil {
			r.log.Warn("consensus did not reach its target", "err", err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
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

// checkpointEvery is how many outer rounds (H local steps each) pass
// between two checkpoints: a restarted peer loses at most this much work.
// A checkpoint is one write of the parameters (0.4 MB for the mlp), small
// next to the rounds' traffic.
const checkpointEvery = 5

// Checkpoints hold the parameters and the step, so a restarted peer resumes
// where it was (its optimizer state starts afresh).
func (r *runner) checkpointPath() string {
	dir := r.m.jobDir(r.spec.ID)
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "checkpoint.safetensors")
}

func (r *runner) saveCheckpoint(step int) {
	path := r.checkpointPath()
	if path == "" {
		return
	}
	r.av.Lock()
	t := modelfile.F32Tensor("params", []int{r.model.NumParams()}, slices.Clone(r.model.Params()))
	r.av.Unlock()
	meta := map[string]string{"job": r.spec.ID, "step": strconv.Itoa(step), "steps_total": strconv.Itoa(r.stepsTotal)}
	if _, err := modelfile.Write(path, []modelfile.Tensor{t}, meta); err != nil {
		r.log.Warn("checkpoint not saved", "err", err)
	}
}

func (r *runner) loadCheckpoint() int {
	path := r.checkpointPath()
	if path == "" {
		return 0
	}
	f, err := modelfile.Read(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("checkpoint unreadable; starting the job afresh", "err", err)
		}
		return 0
	}
	step, err1 := strconv.Atoi(f.Meta["step"])
	total, err2 := strconv.Atoi(f.Meta["steps_total"])
	if len(f.Tensors) != 1 || f.Meta["job"] != r.spec.ID || err1 != nil || err2 != nil {
		r.log.Warn("checkpoint of another job or malformed; starting afresh")
		return 0
	}
	v, err := f.Tensors[0].Float32s()
	if err != nil || len(v) != r.model.NumParams() {
		r.log.Warn("checkpoint does not fit the model; starting afresh")
		return 0
	}
	// The averager has joined already and may be serving an exchange.
	r.av.Lock()
	copy(r.model.Params(), v)
	r.av.Unlock()
	r.stepsTotal = total
	r.log.Info("resumed from checkpoint", "step", step, "of", total)
	return step
}
