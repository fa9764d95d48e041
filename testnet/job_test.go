package testnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh/job"
)

func mnistDir(t *testing.T) string {
	t.Helper()
	return datatest.MNIST(t)
}

// A whole job on 4 real peers: every live peer ends with the same model
// file, it learned something, nothing was lost, and it is close to what
// exact server-side averaging (FedAvg) of the same split reaches.
func TestRunJobMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST: skipped with -short")
	}
	dir := mnistDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunJob(ctx, JobOptions{
		Peers:    4,
		Spec:     job.Spec{Model: "mlp", Data: dir, Epochs: 1, LR: 2e-3, ShardRows: 2000, Seed: 1},
		Seed:     1,
		Baseline: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	if !rep.ModelHashAgreement {
		t.Fatal("peers hold different models")
	}
	if rep.AccuracyMin < 0.9 {
		t.Fatalf("accuracy %.4f after one epoch on 4 peers; want ≥ 0.90", rep.AccuracyMin)
	}
	if rep.ShardsLost != 0 {
		t.Fatalf("%d shards lost", rep.ShardsLost)
	}
	if rep.FedAvgAccuracy == nil || rep.BaselineAccuracy == nil {
		t.Fatal("--baseline reported no fedavg or baseline accuracy")
	}
	t.Logf("alone %.4f, exact averaging %.4f, mesh %.4f", *rep.BaselineAccuracy, *rep.FedAvgAccuracy, rep.AccuracyMean)
	if fed := *rep.FedAvgAccuracy; fed < 0.9 || rep.AccuracyMean < fed-0.02 {
		t.Fatalf("mesh %.4f, exact averaging %.4f: want fedavg ≥ 0.90 and the mesh within 2 points of it", rep.AccuracyMean, fed)
	}
	if rep.CommRatio > 1.1 || rep.CommRatio < 0.9 {
		t.Fatalf("one exchange sends %.2f× the parameters; want about 1", rep.CommRatio)
	}
}

func smallJob(dir string) job.Spec {
	return job.Spec{Model: "mlp", Data: dir, Epochs: 1, LR: 2e-3, ShardRows: 2000, Seed: 3}
}

// Churn: a peer killed and restarted mid-job rejoins it (from its
// checkpoint when one was written before the kill: not checked here); the
// job completes with every live peer on the same model and no shard lost.
func TestRunJobChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST: skipped with -short")
	}
	dir := mnistDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := RunJob(ctx, JobOptions{Peers: 4, Spec: smallJob(dir), Churn: 0.25, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	if rep.Killed != 1 {
		t.Fatalf("killed %d peers, want 1", rep.Killed)
	}
	if rep.Resumed != 1 {
		t.Fatalf("%d restarted peers resumed from a checkpoint, want 1", rep.Resumed)
	}
	if !rep.ModelHashAgreement || rep.ShardsLost != 0 {
		t.Fatalf("agreement %v, shards lost %d", rep.ModelHashAgreement, rep.ShardsLost)
	}
	// The others offer the restarted peer its own messages from before
	// the restart (52-98 ids and messages kept from it in 8 runs); given
	// back and counted against the peers that sent them, they graylisted
	// the whole mesh (-80 and below) in 8 of 13 runs before mesh/echo.go.
	// Honest peers now score each other 0; -10 is where gossip to a peer
	// stops.
	t.Logf("lowest score a live peer gives another: %.1f, own messages given back: %d", rep.LowestPeerScore, rep.SelfEchoes)
	if rep.LowestPeerScore < -10 {
		t.Fatalf("a live peer scores another %.1f: honest peers scored each other down", rep.LowestPeerScore)
	}
	if rep.AccuracyMin < 0.9 {
		t.Fatalf("accuracy %.4f with churn; want ≥ 0.90", rep.AccuracyMin)
	}
}

// Poisoning: one peer sends ×100 and NaN vectors. With --robust clip the
// honest peers still learn and never hold a NaN; without it the ×100
// vectors do visible damage (so this test can tell the two apart).
func TestRunJobPoison(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST: skipped with -short")
	}
	dir := mnistDir(t)
	run := func(robust string) *JobReport {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		spec := smallJob(dir)
		spec.Robust = robust
		rep, err := RunJob(ctx, JobOptions{Peers: 4, Spec: spec, Poison: 1, Seed: 3})
		if err != nil {
			t.Fatalf("robust %s: %v", robust, err)
		}
		t.Logf("robust %s: %+v", robust, rep)
		return rep
	}
	clipped := run("clip")
	if clipped.NonFiniteHonest != 0 {
		t.Fatalf("NaN reached an honest peer %d times", clipped.NonFiniteHonest)
	}
	if clipped.AccuracyMin < 0.9 || !clipped.ModelHashAgreement {
		t.Fatalf("with clipping: accuracy %.4f, agreement %v", clipped.AccuracyMin, clipped.ModelHashAgreement)
	}
	if clipped.Rejected == 0 {
		t.Fatal("no poisoned vector was rejected")
	}
	plain := run("none")
	if plain.NonFiniteHonest != 0 {
		t.Fatalf("NaN reached an honest peer %d times even without --robust (NaN is always rejected)", plain.NonFiniteHonest)
	}
	// Without clipping the ×100 vectors that reach an honest peer before
	// reputation bans the poisoner (after its NaN vectors) move its model
	// further than any exchange does with clipping: measured 0.32× to 95×
	// without, 0.16× to 0.17× with. How far depends on the poisoner's
	// weight (samples seen) when its vectors arrive, hence the spread.
	if plain.MaxRoundShift <= clipped.MaxRoundShift {
		t.Fatalf("without --robust the largest exchange moved an honest model by %.3g×, with clipping %.3g×: the poison did not get through", plain.MaxRoundShift, clipped.MaxRoundShift)
	}
	if clipped.MaxRoundShift > 1 {
		t.Fatalf("with --robust clip an exchange moved an honest model by %.3g×", clipped.MaxRoundShift)
	}
}

// int8 compression sends under 0.3× the float32 bytes per exchange and
// learns as well.
func TestRunJobInt8(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST: skipped with -short")
	}
	dir := mnistDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	spec := smallJob(dir)
	spec.Compress = "int8"
	rep, err := RunJob(ctx, JobOptions{Peers: 4, Spec: spec, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	if rep.CommRatio > 0.3 {
		t.Fatalf("int8 exchange sends %.3f× the float32 parameters; want ≤ 0.3", rep.CommRatio)
	}
	if rep.AccuracyMin < 0.9 || !rep.ModelHashAgreement {
		t.Fatalf("int8: accuracy %.4f, agreement %v", rep.AccuracyMin, rep.ModelHashAgreement)
	}
}

// writeTexts writes a labelled TSV of short texts whose class shows in one
// of their words, with fillers drawn from seed, and returns its path.
func writeTexts(t *testing.T, name string, rows int, seed uint64) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	good := []string{"great", "lovely", "sunny", "happy", "calm"}
	bad := []string{"awful", "rainy", "angry", "broken", "sad"}
	filler := []string{"today", "the", "weather", "was", "my", "day", "at", "work", "and", "then", "we", "went", "home"}
	var b strings.Builder
	b.WriteString("label\ttext\n")
	for range rows {
		label, words := "good", good
		if rng.IntN(2) == 0 {
			label, words = "bad", bad
		}
		parts := []string{}
		for range 3 + rng.IntN(5) {
			parts = append(parts, filler[rng.IntN(len(filler))])
		}
		parts = slices.Insert(parts, rng.IntN(len(parts)+1), words[rng.IntN(len(words))])
		fmt.Fprintf(&b, "%s\t%s\n", label, strings.Join(parts, " "))
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Private data: each peer trains on its own file; no shard is cut or
// moved, only parameters, and the peers still agree on one model that
// learned the task.
func TestRunJobPrivateData(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model: skipped with -short")
	}
	files := []string{writeTexts(t, "a.tsv", 400, 1), writeTexts(t, "b.tsv", 300, 2), writeTexts(t, "c.tsv", 300, 3)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stores []func() int
	rep, err := RunJob(ctx, JobOptions{
		Peers:       3,
		Spec:        job.Spec{Model: "seed-text", Data: files[0], Holdout: 0.2, Epochs: 8, LR: 1e-2, Private: true, LocalSteps: 5, Seed: 5},
		PrivateData: func(i int) string { return files[i] },
		Seed:        5,
		inspect: func(jn *jobNet) {
			for i := range jn.opts.Peers {
				m := jn.manager(i)
				stores = append(stores, func() int { return len(m.Shards().IDs()) })
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	for i, held := range stores {
		if n := held(); n != 0 {
			t.Fatalf("peer %d holds %d shards in private-data mode", i, n)
		}
	}
	if !rep.ModelHashAgreement || rep.AccuracyMin < 0.9 {
		t.Fatalf("agreement %v, accuracy %.4f", rep.ModelHashAgreement, rep.AccuracyMin)
	}
}
