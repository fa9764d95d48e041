package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/testnet"
)

// testnetJobFlags are the flags of `shoal testnet` that run one training
// job on the in-process mesh instead of idling.
type testnetJobFlags struct {
	spec     job.Spec
	baseline bool
	churn    float64
	poison   int
	initProb float64
}

func (f *testnetJobFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.spec.Model, "model", "", "run a training job with this preset (mlp, cnn, lstm-text, ...)")
	fs.StringVar(&f.spec.Data, "data", "", "the job's data: an MNIST folder or a labelled text file")
	fs.Float64Var(&f.spec.Holdout, "holdout", 0.2, "fraction of a text file's last rows used as the test set")
	fs.IntVar(&f.spec.Epochs, "epochs", 3, "epochs of the whole data set, spread over the peers")
	fs.IntVar(&f.spec.Batch, "batch", 0, "batch size (default 64 for images, 32 for text)")
	fs.Float64Var(&f.spec.LR, "lr", 0, "learning rate (default grows with the peers: 1e-3 alone, 1.5e-3 for 2, 2e-3 up to 4, 4e-3 beyond)")
	fs.StringVar(&f.spec.Optimizer, "optimizer", "adam", "sgd, adam or adamw")
	fs.IntVar(&f.spec.LocalSteps, "local-steps", 10, "local steps H between two averaging rounds")
	fs.StringVar(&f.spec.Compress, "compress", "none", "what averaging sends: none, fp16 or int8")
	fs.StringVar(&f.spec.Robust, "robust", "none", "none, or clip (ClippedGossip against faulty peers)")
	fs.IntVar(&f.spec.Replication, "replication", 2, "owners of each data shard")
	fs.IntVar(&f.spec.ShardRows, "shard-rows", 1000, "rows per data shard")
	fs.Float64Var(&f.spec.OuterLR, "outer-lr", 0, "DiLoCo outer learning rate (0: off)")
	fs.Uint64Var(&f.spec.Seed, "seed", 1, "seed of the model, the data order and the churn")
	fs.BoolVar(&f.baseline, "baseline", false, "also train alone and with exact server averaging, for comparison")
	fs.Float64Var(&f.churn, "churn", 0, "fraction of peers killed and restarted during the job")
	fs.IntVar(&f.poison, "poison", 0, "peers that send corrupted parameters (×100 and NaN)")
	fs.Float64Var(&f.initProb, "initiate-probability", 0, "a peer no partner averaged with in a period initiates with this probability (0: the job's ½; 1: always)")
}

func (f *testnetJobFlags) wanted() bool { return f.spec.Model != "" || f.spec.Data != "" }

// runTestnetJob runs the job on peers fresh nodes and prints the report:
// a summary on stderr and, with asJSON, one JSON object as the last line of
// stdout.
func runTestnetJob(ctx context.Context, peers int, f *testnetJobFlags, idle time.Duration, asJSON bool, log *slog.Logger, stdout, stderr io.Writer) error {
	if f.spec.Model == "" || f.spec.Data == "" {
		return fmt.Errorf("a testnet job needs both --model and --data")
	}
	spec := f.spec
	if spec.LR == 0 {
		spec.LR = defaultMeshLR(peers)
	}
	rep, err := testnet.RunJob(ctx, testnet.JobOptions{
		Peers: peers, Spec: spec, Baseline: f.baseline, Churn: f.churn, Poison: f.poison,
		Seed: f.spec.Seed, Logger: log, InitiateProbability: f.initProb, IdleWindow: idle,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d peers started in %.2f s; every one listed all the others %.2f s after the first started\n",
		rep.Peers, rep.StartSeconds, rep.JoinSeconds)
	if rep.IdleWindowSeconds > 0 {
		fmt.Fprintf(stderr, "idle over %.1f s before the job: %.2f%% of a core and %.1f MB resident per peer (%d goroutines; heartbeats every %.1f s)\n",
			rep.IdleWindowSeconds, rep.IdleCPUPercentPerPeer, float64(rep.IdleRSSBytesPerPeer)/(1<<20), rep.IdleGoroutines, rep.HeartbeatEverySeconds)
	}
	fmt.Fprintf(stderr, "consensus: %d rounds at most (%.1f on average), final distance %.2g\n",
		rep.ConsensusRounds, rep.ConsensusRoundsMean, rep.ConsensusDistance)
	fmt.Fprintf(stderr, "job %s: %d peers, accuracy %.4f (min %.4f, max %.4f), models agree: %v, %d rounds, %.1f s\n",
		rep.Job, rep.Peers, rep.AccuracyMean, rep.AccuracyMin, rep.AccuracyMax, rep.ModelHashAgreement, rep.AveragingRounds, rep.Seconds)
	fmt.Fprintf(stderr, "sent per peer: %.3f model copies per averaging period of training (%.0f periods, then %.1f consensus rounds; %.3f per period counting those rounds too); ring all-reduce: %.3f\n",
		rep.BytesPerPeerPerPeriod, rep.TrainingPeriods, rep.ConsensusRoundsMean, rep.BytesPerPeerPerAveragingPeriod, rep.AllReduceBytesPerPeriod)
	if rep.BaselineAccuracy != nil {
		fmt.Fprintf(stderr, "alone: %.4f, server averaging (FedAvg): %.4f\n", *rep.BaselineAccuracy, *rep.FedAvgAccuracy)
	}
	if !asJSON {
		return nil
	}
	return writeJSONLine(stdout, rep)
}

// defaultMeshLR grows Adam's 1e-3 with the number of peers: each model takes
// peers× fewer steps, and averaging shrinks every step's effect (measured in
// simulation: 4e-3 on 8 peers gossip ≈ server averaging).
func defaultMeshLR(peers int) float64 {
	switch {
	case peers <= 1:
		return 1e-3
	case peers <= 2:
		return 1.5e-3
	case peers <= 4:
		return 2e-3
	default:
		return 4e-3
	}
}
