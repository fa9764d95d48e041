package job

import (
	"log/slog"
	"time"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/avg"
)

// Config sets up a Manager.
type Config struct {
	Node *mesh.Node
	// DataDir keeps job specs, checkpoints and shards (<DataDir>/jobs,
	// <DataDir>/shards). Empty: memory only, no resume.
	DataDir string
	// Models is where finished jobs publish their model.
	Models *modelstore.Store
	// Role is the node's role; edge nodes join only jobs that ask for them.
	Role   string
	Logger *slog.Logger
	// PrivateData names this peer's own data file or folder for a
	// private-data job ("" or nil: none, and the peer does not take part;
	// it never reads the path a submitter wrote, see private.go).
	// PrivateDataByName maps the job's Data name to the operator's paths.
	PrivateData func(spec Spec) string
	// Averaging adjusts the averaging settings of a job on this peer
	// (testnet's --poison sets Tamper here). May be nil.
	Averaging func(spec Spec, c *avg.Config)
	// JoinPolicy is JoinAuto (default), JoinAsk or JoinOff: whether this
	// peer joins the jobs others announce (its own always run), and with
	// JoinAsk only once its operator accepts (pending.go).
	JoinPolicy string
	// PendingTimeout is how long a job waits for the operator's answer
	// under JoinAsk before it expires (0: defaultPendingTimeout).
	PendingTimeout time.Duration
	// KeepFinished is how many ended jobs (done, failed, canceled,
	// declined, expired) the manager keeps listing; older ones are
	// forgotten with their buffers (prune.go). 0: DefaultKeepFinished.
	KeepFinished int
	// MaxJobs caps the jobs running here at once (0: DefaultMaxJobs).
	MaxJobs int
	// MemBudget caps a job's estimated memory (EstimateBytes): 0 means
	// half of this machine's memory, < 0 no cap.
	MemBudget int64
	// Timing; zero values take the defaults of fill (defaultMinPeersWait,
	// defaultFinishWait, defaultStatusTimeout).
	MinPeersWait  time.Duration // how long to wait for MinPeers members
	FinishWait    time.Duration // how long a trained peer waits for the others
	StatusTimeout time.Duration // a member silent this long is not a member
}

func (c *Config) fill() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.JoinPolicy == "" {
		c.JoinPolicy = JoinAuto
	}
	if c.MaxJobs == 0 {
		c.MaxJobs = DefaultMaxJobs
	}
	if c.PendingTimeout == 0 {
		c.PendingTimeout = defaultPendingTimeout
	}
	if c.KeepFinished == 0 {
		c.KeepFinished = DefaultKeepFinished
	}
	if c.MinPeersWait == 0 {
		c.MinPeersWait = defaultMinPeersWait
	}
	if c.FinishWait == 0 {
		c.FinishWait = defaultFinishWait
	}
	if c.StatusTimeout == 0 {
		c.StatusTimeout = defaultStatusTimeout
	}
}

// Defaults of Config's timing.
const (
	// defaultMinPeersWait leaves time for peers to discover each other and
	// hear a re-announcement (announceEvery) before a job gives up on
	// MinPeers.
	defaultMinPeersWait = 2 * time.Minute
	// defaultFinishWait lets a slower member finish its last rounds before
	// consensus starts without it, without a dead one holding the job for long.
	defaultFinishWait = 5 * time.Minute
	// defaultStatusTimeout is many heartbeats (statusEvery), so a few lost
	// GossipSub messages do not drop a live member.
	defaultStatusTimeout = 30 * time.Second
	// defaultPendingTimeout leaves an operator a few minutes to answer a
	// job under --jobs ask: longer than the submitter's own wait for its
	// members (defaultMinPeersWait), since a member may join a running
	// job late, but not so long that an answer comes after the job ended.
	defaultPendingTimeout = 5 * time.Minute
)

// DefaultKeepFinished is how many ended jobs a manager keeps by default:
// enough for the console's list and `shoal jobs` to show the recent
// history, few enough that a node running jobs for months stays small.
const DefaultKeepFinished = 32

// ConsensusTarget is the relative consensus distance the end of a job
// reaches before every peer adopts the same final vector.
const ConsensusTarget = 1e-3

// initiateProbability is how likely a peer that no partner averaged with
// in a period starts an exchange itself (avg.Config.InitiateProbability).
// Measured on 8 peers, MNIST mlp, 3 epochs (BENCHMARKS.md, mesh): ½ sends
// 0.72 model copies per peer and period, always 1.13, at the same accuracy
// (0.968 and 0.969) and consensus rounds (17 and 17).
const initiateProbability = 0.5

// int8ConsensusTarget replaces ConsensusTarget for jobs that average in
// int8 (see consensusTarget).
const int8ConsensusTarget = 3e-2

// Cadences, timeouts and round caps of a running job.
const (
	// statusEvery is how often a peer repeats its latest status for every
	// job it knows, finished ones included: a peer that (re)starts late
	// learns from these who takes part and who has finished, and a member
	// stays fresh (StatusTimeout) through long silent phases such as the
	// final agreement.
	statusEvery = 2 * time.Second
	// announceEvery is how often a submitter repeats its announcement until
	// MinPeers joined: peers whose subscription it had not yet seen missed
	// the first one.
	announceEvery = time.Second
	// joinPollEvery is how often a peer waiting for members looks again and
	// repeats its status, so a peer that missed its join hears it again.
	joinPollEvery = time.Second
	// finishPollEvery is how often a trained peer looks whether the others
	// are done: a member that goes silent leaves without waking it.
	finishPollEvery = time.Second
	// trainStatusEvery caps status messages while training: outer rounds
	// of a small model take milliseconds, and every status is gossiped to
	// the whole mesh.
	trainStatusEvery = 500 * time.Millisecond
	// finishStatusEvery is the status cadence of the finish and consensus
	// phases, which run no heartbeat of their own: like statusEvery, well
	// inside StatusTimeout.
	finishStatusEvery = 2 * time.Second
	// fetchTimeout bounds one shard fetch across all its holders, so a
	// stalled holder costs a shard, not the job.
	fetchTimeout = time.Minute
	// consensusMaxRounds caps the consensus phase when ConsensusTarget is
	// not reached (a member keeps drifting): the final agreement still
	// gives every peer the same vector.
	consensusMaxRounds = 200
	// expectedHold is how long a trained peer waits for members it saw
	// while training that are out of sight now (a split network heals, a
	// killed peer restarts) before agreeing on the final vector without
	// them: longer than a partition test's split, short enough that a
	// peer gone for good delays the end by a minute only.
	expectedHold = time.Minute
	// finalTimeout bounds the final agreement (or the adoption of the
	// finished members' vector).
	finalTimeout = 2 * time.Minute
	// checkpointEvery is how many outer rounds (H local steps each) pass
	// between two checkpoints: a restarted peer loses at most this much
	// work. A checkpoint is one write of the parameters (0.4 MB for the
	// mlp), small next to the rounds' traffic.
	checkpointEvery = 5
	// evalBatch is the batch size of probe evaluations: it bounds the
	// activations held at once, not the result.
	evalBatch = 256
	// eventBuffer is each subscriber's event buffer: the node drops events
	// for a full one rather than block on a slow reader.
	eventBuffer = 256
)

// Sizes of the data every member evaluates on.
const (
	// probeRows is the size of the hold-out every member evaluates on while
	// training (the "local hold-out accuracy" of job events).
	probeRows = 1000
	// privateHoldout is the share of a peer's own rows it keeps aside, in
	// private-data mode, to report accuracy on.
	privateHoldout = 0.1
)

// Limits on what a spec may ask for, so a hostile announcement cannot make
// peers allocate without bound.
const (
	maxEpochs      = 1000
	maxBatch       = 1 << 16
	maxLocalSteps  = 1 << 20
	maxReplication = 16
	maxMinPeers    = 4096
	maxShardRows   = 1 << 20
	maxModelSpec   = 256 << 10
)

// Limits on job messages, for the same reason.
const (
	// maxMessage bounds every job message on GossipSub (whose own cap is
	// 1 MiB): a manifest of a few hundred shards plus a 10,000-word
	// vocabulary fits.
	maxMessage = 900 << 10
	// maxLabels bounds the classes of a manifest.
	maxLabels = 1 << 16
	// maxSampleDims, maxSampleDim and maxSampleWidth bound a manifest's
	// sample shape: its rank, each dimension, and their product.
	maxSampleDims  = 4
	maxSampleDim   = 1 << 20
	maxSampleWidth = 1 << 24
	// maxHave bounds the shard ids one status lists.
	maxHave = 1 << 14
	// maxStatusError bounds a status's error text; a longer error is
	// clipped before it is sent.
	maxStatusError = 1024
)
