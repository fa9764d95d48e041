package job

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/mesh/avg"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// runner takes one job through its life on this peer: wait for members,
// fetch its shards (fetch.go), train (training.go), then agree on and
// publish the final model (finish.go), checkpointing on the way
// (checkpoint.go). Its methods run on the job's goroutine, which
// Manager.start starts and whose end it reports; the parameters are shared
// with the averager's exchanges, hence av.Lock around every use.
type runner struct {
	m        *Manager
	js       *jobState
	spec     Spec
	manifest Manifest
	log      *slog.Logger

	model *nn.Model
	opt   nn.Optimizer
	av    *avg.Averager
	ids   []shards.ID
	probe *data.Dataset
	local *data.Dataset
	// want lists the shards this peer trains on, primary those of them in
	// local so far (fetch.go: the rest stream in while it trains).
	want      []shards.ID
	primary   []shards.ID
	fetchStop func()
	fetchDone chan struct{}

	st       Status
	lastPub  time.Time
	sentHave int
	// expected holds every member seen while training: the final
	// agreement waits a while for those out of sight (a network split)
	// rather than agree without them.
	expected   map[peer.ID]bool
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

// run takes the job from joining to its published model.
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
	// The consensus phase sends what training sends: f32 there would cost
	// more than the whole compressed training (one copy per round, against
	// a quarter with int8); consensusTarget allows for the noise. An
	// uncompressed job's consensus sends fp16: it only has to bring peers
	// within ConsensusTarget (1e-3) of each other, and fp16's rounding
	// (about 1e-4 relative, carried over by error feedback) is far below
	// that, while f32 made the consensus phase cost as much as half the
	// training (8 peers, MNIST mlp, 3 epochs: 18 of 41 model copies per
	// peer; with fp16 about 9, see BENCHMARKS.md, mesh).
	cfg.ConsensusEncoding = cfg.Encoding
	if cfg.Encoding == avg.EncF32 {
		cfg.ConsensusEncoding = avg.EncF16
	}
	cfg.InitiateProbability = initiateProbability
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
		path, err := r.m.privatePath(r.spec)
		if err != nil {
			return nil, err
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
	// The background fetcher outlives training (replicas keep coming in
	// during the final agreement) but not the job.
	defer r.stopFetching()
	if err := r.train(ctx, step, res); err != nil {
		return nil, err
	}
	if err := r.finish(ctx, res); err != nil {
		return nil, err
	}
	if err := r.awaitFetching(ctx); err != nil {
		return nil, err
	}
	ok = true // the averager keeps serving the final vector to late peers,
	// but not the exchange buffers (about six more model-sized vectors).
	r.av.Release()
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
	tick := time.NewTicker(joinPollEvery)
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
