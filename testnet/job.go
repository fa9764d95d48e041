package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/train"
	"github.com/shoalmesh/shoal/mesh/avg"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// JobOptions describes one whole training job run on a fresh Net.
type JobOptions struct {
	Peers int
	Spec  job.Spec // MinPeers is set to Peers
	// Baseline also trains, in this process, the model alone and with
	// exact server-side averaging (FedAvg) on the same split.
	Baseline bool
	// Churn kills and restarts this fraction of the peers, one at a time,
	// at random moments of the training phase.
	Churn float64
	// Poison makes this many peers (the last ones) send corrupted
	// parameters: alternately scaled ×100 and NaN.
	Poison int
	Seed   uint64
	// InitiateProbability, when set, replaces the job's
	// avg.Config.InitiateProbability on every peer (1: initiate whenever
	// no partner came in the period), to compare ways of pairing peers.
	InitiateProbability float64
	// PrivateData, for private-data jobs, names peer i's own data file.
	PrivateData func(i int) string
	// IdleWindow, when not 0, measures the net's idle footprint (Footprint)
	// over that long once every peer lists all the others, before the job
	// is submitted; below 0: over AutoIdleWindow.
	IdleWindow time.Duration
	Logger     *slog.Logger
	Net        []Option
	// inspect, for tests, sees the managers once the job is submitted.
	inspect func(*jobNet)
}

// JobReport is the outcome of RunJob; its JSON is the contract of
// `shoal testnet --json` (fields may be added, none removed).
type JobReport struct {
	Peers              int     `json:"peers"`
	AccuracyMin        float64 `json:"accuracy_min"`
	AccuracyMean       float64 `json:"accuracy_mean"`
	AccuracyMax        float64 `json:"accuracy_max"`
	ConsensusDistance  float64 `json:"consensus_distance"`
	ModelHashAgreement bool    `json:"model_hash_agreement"`
	ModelHash          string  `json:"model_hash"`
	ModelBytes         int64   `json:"model_bytes"`
	ParamBytes         int64   `json:"param_bytes"` // float32 parameter vector
	BytesSentPerPeer   int64   `json:"bytes_sent_per_peer"`
	// BytesPerExchange is what one peer sends in one averaging exchange of
	// the training phase (bytes sent / exchanges counted at both ends), and
	// CommRatio that divided by ParamBytes.
	BytesPerExchange float64 `json:"bytes_per_exchange"`
	CommRatio        float64 `json:"comm_ratio"`
	AveragingRounds  int     `json:"averaging_rounds"` // mean per peer, training phase
	ConsensusRounds  int     `json:"consensus_rounds"` // max per peer
	// AveragingPeriods is the mean per peer of the averaging periods of the
	// whole job: training periods (every H local steps) plus consensus
	// rounds, in each of which a peer takes part in about one exchange.
	// BytesPerPeerPerPeriod is everything a peer sent over the job (the
	// consensus phase and the final fetch included), divided by ParamBytes
	// and by the training periods, the averaging periods of training (issue
	// 17's reading: the consensus phase is a cost of the job, not extra
	// periods that dilute it); BytesPerPeerPerTrainingPeriod is the same
	// figure under its older name. BytesPerPeerPerAveragingPeriod divides
	// by AveragingPeriods instead (training periods plus consensus rounds),
	// what bytes_per_peer_per_period meant before. AllReduceBytesPerPeriod
	// is what a ring all-reduce, which computes the exact average, sends
	// per peer and period: 2(n−1)/n model copies.
	AveragingPeriods               float64 `json:"averaging_periods"`
	TrainingPeriods                float64 `json:"training_periods"`
	ConsensusRoundsMean            float64 `json:"consensus_rounds_mean"`
	BytesPerPeerPerPeriod          float64 `json:"bytes_per_peer_per_period"`
	BytesPerPeerPerTrainingPeriod  float64 `json:"bytes_per_peer_per_training_period"`
	BytesPerPeerPerAveragingPeriod float64 `json:"bytes_per_peer_per_averaging_period"`
	AllReduceBytesPerPeriod        float64 `json:"allreduce_bytes_per_period"`
	// ExchangesPerPeerPerPeriod counts the completed exchanges a peer took
	// part in (either side), per averaging period: 1 at most by design.
	ExchangesPerPeerPerPeriod float64 `json:"exchanges_per_peer_per_period"`
	// ShardsLost counts shards no live peer but the submitter holds: the
	// submitter keeps every shard it cut, so counting it would always
	// give 0; this is what the job would lose if the submitter left.
	ShardsLost int `json:"shards_lost"`
	// LowestPeerScore is the lowest GossipSub score a live peer gave
	// another at the end (0 when none is scored down; below -50 a peer's
	// messages are no longer published to it, below -80 it is ignored).
	// Honest peers should never score each other down; a peer restarted
	// with its identity once graylisted the whole mesh for giving its own
	// messages back (mesh/echo.go).
	LowestPeerScore float64 `json:"lowest_peer_score"`
	// SelfEchoes counts what live peers kept others from giving back of
	// the messages they signed themselves before a restart (mesh/echo.go:
	// ids stripped from IHAVEs, messages dropped unread), which GossipSub
	// would count against the sender.
	SelfEchoes      int64   `json:"self_echoes"`
	Shards          int     `json:"shards"`
	Seconds         float64 `json:"seconds"`
	Killed          int     `json:"killed"`
	Poisoned        int     `json:"poisoned"`
	Rejected        int64   `json:"rejected_vectors"`
	NonFiniteHonest int     `json:"non_finite_honest"` // NaN/Inf ever seen in an honest peer's params
	// MaxRoundShift is the largest relative change one averaging round made
	// to an honest peer's parameters (see job.Result.MaxRoundShift).
	MaxRoundShift float64 `json:"max_round_shift"`
	// Resumed counts restarted peers that resumed the job from a
	// checkpoint (churn), rather than starting it afresh.
	Resumed          int      `json:"resumed"`
	BaselineAccuracy *float64 `json:"baseline_accuracy,omitempty"`
	FedAvgAccuracy   *float64 `json:"fedavg_accuracy,omitempty"`
	Job              string   `json:"job"`
	Compress         string   `json:"compress"`
	Robust           string   `json:"robust"`
	Epochs           int      `json:"epochs"`
	Model            string   `json:"model"`
	// StartSeconds is how long starting every peer took (testnet.Start),
	// JoinSeconds the time from the start of the first until every peer
	// listed all the others.
	StartSeconds float64 `json:"start_seconds"`
	JoinSeconds  float64 `json:"join_seconds"`
	// JoinCPUSeconds is the process's CPU time over the same span: a
	// loaded machine stretches JoinSeconds, not this.
	JoinCPUSeconds float64 `json:"join_cpu_seconds"`
	// The idle footprint before the job (JobOptions.IdleWindow; absent
	// when not measured): CPU per peer in % of one core, resident memory
	// per peer, over IdleWindowSeconds.
	IdleWindowSeconds     float64 `json:"idle_window_seconds,omitempty"`
	IdleCPUPercentPerPeer float64 `json:"idle_cpu_percent_per_peer,omitempty"`
	IdleRSSBytesPerPeer   uint64  `json:"idle_rss_bytes_per_peer,omitempty"`
	IdleGoroutines        int     `json:"idle_goroutines,omitempty"`
	HeartbeatEverySeconds float64 `json:"heartbeat_every_seconds,omitempty"`
}

// jobNet runs one job on a Net, whose nodes each carry a job manager.
type jobNet struct {
	net  *Net
	opts JobOptions
}

// jobConfig is the job manager config of node i in a RunJob mesh: a short
// status timeout, the peer's private data and, for the poisoned peers, a
// tamper of every vector they send.
func (opts JobOptions) jobConfig(i int, c *job.Config) {
	// A test mesh is small and fast: a silent member is gone soon.
	c.StatusTimeout = 10 * time.Second
	c.Logger = opts.Logger.With("node", i, "part", "jobs")
	if opts.PrivateData != nil {
		c.PrivateData = func(job.Spec) string { return opts.PrivateData(i) }
	}
	prob := opts.InitiateProbability
	setProb := func(c *avg.Config) {
		if prob > 0 {
			c.InitiateProbability = prob
		}
	}
	c.Averaging = func(_ job.Spec, c *avg.Config) { setProb(c) }
	if i < opts.Peers-opts.Poison {
		return
	}
	var sends atomic.Int64 // per start: a restarted liar begins again
	c.Averaging = func(_ job.Spec, c *avg.Config) {
		setProb(c)
		c.Tamper = func(out []float32) {
			if sends.Add(1)%2 == 0 {
				for j := range out {
					out[j] = float32(math.NaN())
				}
				return
			}
			for j := range out {
				out[j] *= 100
			}
		}
	}
}

func (jn *jobNet) manager(i int) *job.Manager { return jn.net.Jobs(i) }

func (jn *jobNet) kill(i int) error { return jn.net.Kill(i) }

func (jn *jobNet) restart(i int) error { return jn.net.Restart(i) }

// RunJob starts opts.Peers nodes, submits one job to node 0, lets every
// peer run it to the end (with churn and poisoning as asked) and reports.
func RunJob(ctx context.Context, opts JobOptions) (*JobReport, error) {
	if opts.Peers < 1 {
		return nil, errors.New("testnet: at least one peer")
	}
	if opts.Poison < 0 || opts.Poison >= opts.Peers {
		return nil, fmt.Errorf("testnet: --poison %d needs at least one honest peer among %d", opts.Poison, opts.Peers)
	}
	if opts.Churn < 0 || opts.Churn > 1 {
		return nil, fmt.Errorf("testnet: --churn %g outside [0, 1]", opts.Churn)
	}
	if opts.Baseline && opts.Spec.Private {
		// FedAvg splits the job's shards; a private-data job has none.
		return nil, errors.New("testnet: --baseline needs a sharded job, not private data")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	start, cpu0 := time.Now(), ProcessCPU()
	net, err := Start(ctx, opts.Peers, append([]Option{WithLogger(opts.Logger), WithJobConfig(opts.jobConfig)}, opts.Net...)...)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	started := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, JoinTimeout(opts.Peers))
	err = net.WaitFor(wctx, (*Net).Converged)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("testnet: peers did not find each other: %w", err)
	}
	joined, joinCPU := time.Since(start), ProcessCPU()-cpu0
	opts.Logger.Info("every peer lists all the others", "peers", opts.Peers, "after", joined)
	var idle Footprint
	if opts.IdleWindow != 0 {
		w := opts.IdleWindow
		if w < 0 {
			w = net.AutoIdleWindow()
		}
		if idle, err = net.MeasureIdle(ctx, w); err != nil {
			return nil, err
		}
		opts.Logger.Info(idle.String())
	}
	var every time.Duration
	if n := net.Node(0); n != nil {
		every = n.HeartbeatEvery()
	}
	jn := &jobNet{net: net, opts: opts}
	spec := opts.Spec
	spec.MinPeers = opts.Peers
	spec, err = jn.manager(0).Submit(ctx, spec)
	if err != nil {
		return nil, err
	}
	ann, _ := jn.manager(0).Announcement(spec.ID)
	if opts.inspect != nil {
		opts.inspect(jn)
	}

	killed, err := jn.churn(ctx, spec)
	if err != nil {
		return nil, err
	}

	results := make([]*job.Result, opts.Peers)
	for _, i := range net.Live() {
		if i >= opts.Peers-opts.Poison {
			// A faulty peer's end is not the mesh's: honest peers ban it
			// and may refuse it the final model, so nobody waits for it.
			continue
		}
		res, err := jn.manager(i).Wait(ctx, spec.ID)
		if err != nil {
			return nil, fmt.Errorf("testnet: peer %d: %w", i, err)
		}
		results[i] = res
	}
	seconds := time.Since(start).Seconds()

	rep := &JobReport{
		Peers: opts.Peers, Job: spec.ID, Compress: spec.Compress, Robust: spec.Robust, Epochs: spec.Epochs,
		Model: spec.Model, Killed: killed, Poisoned: opts.Poison, Seconds: seconds, Shards: len(ann.Manifest.Shards),
		StartSeconds: started.Seconds(), JoinSeconds: joined.Seconds(), JoinCPUSeconds: joinCPU.Seconds(),
		IdleWindowSeconds: idle.Window.Seconds(), IdleCPUPercentPerPeer: idle.CPUPercentPerPeer,
		IdleRSSBytesPerPeer: idle.RSSBytesPerPeer, IdleGoroutines: idle.Goroutines,
		HeartbeatEverySeconds: every.Seconds(),
	}
	prepared, err := train.PrepareData(train.DataOptions{Path: spec.Data, Holdout: spec.Holdout})
	if err != nil {
		return nil, err
	}
	test := prepared.Test
	if test == nil {
		test = prepared.Train
	}
	var accs []float64
	hashes := map[string]bool{}
	var sent, trainSent, exchanges, allExchanges int64
	for i, res := range results {
		if res == nil {
			continue
		}
		honest := i < opts.Peers-opts.Poison
		if !honest {
			continue // a faulty peer's own view is not the mesh's result
		}
		a, err := artifact.Load(res.ModelPath)
		if err != nil {
			return nil, fmt.Errorf("testnet: peer %d model: %w", i, err)
		}
		met, err := train.Evaluate(a.Model, test, 0)
		if err != nil {
			return nil, err
		}
		accs = append(accs, met.Accuracy)
		hashes[res.ModelHash] = true
		rep.ModelHash, rep.ModelBytes = res.ModelHash, res.ModelBytes
		rep.ParamBytes = int64(4 * a.Model.NumParams())
		sent += res.BytesSent
		trainSent += res.TrainBytesSent
		exchanges += res.TrainExchanges
		allExchanges += res.Exchanges
		rep.AveragingRounds += res.Rounds
		rep.TrainingPeriods += float64(res.Periods)
		rep.ConsensusRoundsMean += float64(res.ConsensusRounds)
		rep.ConsensusRounds = max(rep.ConsensusRounds, res.ConsensusRounds)
		rep.ConsensusDistance = max(rep.ConsensusDistance, res.Distance)
		rep.Rejected += res.Rejected
		rep.NonFiniteHonest += res.NonFinite
		rep.MaxRoundShift = max(rep.MaxRoundShift, res.MaxRoundShift)
		if res.ResumedFrom > 0 {
			rep.Resumed++
		}
	}
	if len(accs) == 0 {
		return nil, errors.New("testnet: no honest peer finished")
	}
	rep.AccuracyMin, rep.AccuracyMax = slices.Min(accs), slices.Max(accs)
	for _, a := range accs {
		rep.AccuracyMean += a / float64(len(accs))
	}
	rep.ModelHashAgreement = len(hashes) == 1
	rep.BytesSentPerPeer = sent / int64(len(accs))
	rep.AveragingRounds /= len(accs)
	rep.TrainingPeriods /= float64(len(accs))
	rep.ConsensusRoundsMean /= float64(len(accs))
	rep.AveragingPeriods = rep.TrainingPeriods + rep.ConsensusRoundsMean
	if rep.ParamBytes > 0 && rep.TrainingPeriods > 0 {
		copies := float64(rep.BytesSentPerPeer) / float64(rep.ParamBytes)
		rep.BytesPerPeerPerPeriod = copies / rep.TrainingPeriods
		rep.BytesPerPeerPerTrainingPeriod = rep.BytesPerPeerPerPeriod
		rep.BytesPerPeerPerAveragingPeriod = copies / rep.AveragingPeriods
		rep.ExchangesPerPeerPerPeriod = float64(allExchanges) / float64(len(accs)) / rep.AveragingPeriods
	}
	rep.AllReduceBytesPerPeriod = AllReduceCopies(opts.Peers)
	if exchanges > 0 {
		rep.BytesPerExchange = float64(trainSent) / float64(exchanges)
		rep.CommRatio = rep.BytesPerExchange / float64(rep.ParamBytes)
	}
	rep.ShardsLost = jn.shardsLost(ann.Manifest)
	rep.LowestPeerScore = jn.lowestPeerScore()
	for _, i := range jn.net.Live() {
		rep.SelfEchoes += jn.net.Node(i).SelfEchoes()
	}

	if opts.Baseline {
		base, err := job.Baseline(ctx, spec, ann.Manifest, prepared.Train, test)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		members := make([]peer.ID, opts.Peers)
		for i := range members {
			members[i] = net.ID(i)
		}
		fed, err := job.FedAvg(ctx, spec, ann.Manifest, jn.manager(0).Shards(), members, test)
		if err != nil {
			return nil, fmt.Errorf("fedavg: %w", err)
		}
		rep.BaselineAccuracy, rep.FedAvgAccuracy = &base.Accuracy, &fed.Accuracy
	}
	return rep, nil
}

// JoinTimeout is how long RunJob and `shoal testnet` wait for every peer
// to list all the others: 30 s, or a second per peer past 30.
func JoinTimeout(peers int) time.Duration {
	return max(30*time.Second, time.Duration(peers)*time.Second)
}

// AllReduceCopies is what one peer sends, in model copies, for one exact
// average of n peers by ring all-reduce (reduce-scatter then all-gather,
// each n−1 steps of 1/n of the model): 2(n−1)/n.
func AllReduceCopies(n int) float64 {
	if n < 2 {
		return 0
	}
	return 2 * float64(n-1) / float64(n)
}

// churn kills and restarts round(Churn × Peers) peers one after another,
// each at a random moment while the job trains, and waits for each to be
// back. It returns how many it killed.
func (jn *jobNet) churn(ctx context.Context, spec job.Spec) (int, error) {
	k := int(math.Round(jn.opts.Churn * float64(jn.opts.Peers)))
	if k == 0 {
		return 0, nil
	}
	// Node 0 stays: the report follows the training through it.
	k = min(k, jn.opts.Peers-1)
	rng := rand.New(rand.NewPCG(jn.opts.Seed, 0xc4))
	victims := rng.Perm(jn.opts.Peers - 1)[:k]
	events, cancel := jn.manager(0).Subscribe()
	defer cancel()
	// A victim dies once it has done a share of its own steps, as node 0
	// hears them in the victim's status messages.
	progress := func(victim int) (int, int) {
		for _, info := range jn.manager(0).Jobs() {
			if info.Spec.ID == spec.ID {
				st := info.Members[jn.net.ID(victim).String()]
				return st.Step, st.Steps
			}
		}
		return 0, 0
	}
	steps := 0
	for n, victim := range victims {
		victim++ // indices 1..Peers-1
		// Between 25% and 75% of its training, the kills spread over the
		// job: late enough for a first checkpoint to exist, early enough
		// to resume into real work.
		frac := 0.25 + (float64(n)+rng.Float64()*0.8)/float64(len(victims))*0.5
		for {
			step, total := progress(victim)
			if total > 0 && float64(step) >= frac*float64(total) {
				steps = step
				break
			}
			select {
			case <-ctx.Done():
				return n, ctx.Err()
			case _, ok := <-events:
				if !ok {
					return n, errors.New("testnet: node 0 stopped during churn")
				}
			}
		}
		jn.opts.Logger.Info("churn: killing peer", "peer", victim, "at_step", steps)
		if err := jn.kill(victim); err != nil {
			return n, err
		}
		// Stay down until the others have noticed (a real departure).
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err := jn.net.WaitFor(wctx, (*Net).Converged)
		wcancel()
		if err != nil {
			return n, fmt.Errorf("testnet: mesh did not settle after killing peer %d: %w", victim, err)
		}
		if err := jn.restart(victim); err != nil {
			return n, err
		}
	}
	return k, nil
}

// lowestPeerScore is the lowest score a live peer gives another live one.
func (jn *jobNet) lowestPeerScore() float64 {
	lowest := 0.0
	live := jn.net.Live()
	for _, i := range live {
		for _, j := range live {
			if i == j {
				continue
			}
			if r, ok := jn.net.Node(i).PeerScoreReport(jn.net.ID(j)); ok {
				lowest = min(lowest, r.Score)
			}
		}
	}
	return lowest
}

// shardsLost counts shards of the manifest that no live peer other than the
// submitter (node 0, which holds every shard it cut) holds; alone, node 0
// counts.
func (jn *jobNet) shardsLost(m job.Manifest) int {
	lost := 0
	for _, ref := range m.Shards {
		id, err := shards.ParseID(ref.ID)
		if err != nil {
			lost++
			continue
		}
		held := false
		for _, i := range jn.net.Live() {
			if i == 0 && jn.opts.Peers > 1 {
				continue
			}
			if mg := jn.manager(i); mg != nil && mg.Shards().Has(id) {
				held = true
				break
			}
		}
		if !held {
			lost++
		}
	}
	return lost
}
