// Command bench-mesh measures training together without a server:
// it runs `shoal train` and a series of `shoal testnet` jobs on MNIST, one
// after the other, checks each figure against its target, and
// prints a table on stderr and one JSON object on stdout.
//
//	go run ./cmd/bench-mesh -shoal bin/shoal -mnist "$(make -s mnist)"
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

// testnetReport holds the fields of `shoal testnet --json` this program reads.
type testnetReport struct {
	Peers              int      `json:"peers"`
	AccuracyMin        float64  `json:"accuracy_min"`
	AccuracyMean       float64  `json:"accuracy_mean"`
	AccuracyMax        float64  `json:"accuracy_max"`
	ConsensusDistance  float64  `json:"consensus_distance"`
	ModelHashAgreement bool     `json:"model_hash_agreement"`
	ModelBytes         int64    `json:"model_bytes"`
	BytesSentPerPeer   int64    `json:"bytes_sent_per_peer"`
	CommRatio          float64  `json:"comm_ratio"`
	AveragingRounds    int      `json:"averaging_rounds"`
	ConsensusRounds    int      `json:"consensus_rounds"`
	ShardsLost         int      `json:"shards_lost"`
	Seconds            float64  `json:"seconds"`
	Killed             int      `json:"killed"`
	NonFiniteHonest    int      `json:"non_finite_honest"`
	Rejected           int64    `json:"rejected_vectors"`
	MaxRoundShift      float64  `json:"max_round_shift"`
	BaselineAccuracy   *float64 `json:"baseline_accuracy"`
	FedAvgAccuracy     *float64 `json:"fedavg_accuracy"`
	// All bytes a peer sent over the job / model / averaging periods.
	BytesPerPeerPerPeriod         float64 `json:"bytes_per_peer_per_period"`
	BytesPerPeerPerTrainingPeriod float64 `json:"bytes_per_peer_per_training_period"`
	// Per period counting the consensus rounds as periods too.
	BytesPerPeerPerAveragingPeriod float64 `json:"bytes_per_peer_per_averaging_period"`
	AllReduceBytesPerPeriod        float64 `json:"allreduce_bytes_per_period"`
	AveragingPeriods               float64 `json:"averaging_periods"`
}

type check struct {
	Name   string         `json:"name"`
	Args   []string       `json:"args"`
	Report *testnetReport `json:"report,omitempty"`
	Want   string         `json:"want"`
	Got    string         `json:"got"`
	OK     bool           `json:"ok"`
}

func main() {
	shoal := flag.String("shoal", "bin/shoal", "the shoal binary")
	mnist := flag.String("mnist", "", "MNIST folder (make -s mnist)")
	peers := flag.Int("peers", 8, "peers of every testnet job")
	seed := flag.Int("seed", 1, "seed of every run")
	flag.Parse()
	if *mnist == "" {
		fmt.Fprintln(os.Stderr, "bench-mesh: -mnist is required (make -s mnist prints it)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *shoal, *mnist, *peers, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "bench-mesh:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, shoal, mnist string, peers, seed int) error {
	start := time.Now()
	s := strconv.Itoa(seed)
	var alone struct {
		TestAccuracy float64 `json:"test_accuracy"`
	}
	tmp, err := os.MkdirTemp("", "bench-mesh")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	trainArgs := []string{"train", "--model", "mlp", "--data", mnist, "--epochs", "3", "--seed", s, "--out", tmp + "/mlp.safetensors", "--json"}
	if err := runJSON(ctx, shoal, trainArgs, &alone); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "shoal train --epochs 3 alone: %.4f\n", alone.TestAccuracy)

	job := func(extra ...string) []string {
		return append([]string{"testnet", "--peers", strconv.Itoa(peers), "--model", "mlp", "--data", mnist, "--seed", s, "--json"}, extra...)
	}
	var checks []check
	add := func(name string, args []string, want string, judge func(r *testnetReport) (string, bool)) *testnetReport {
		c := check{Name: name, Args: args, Want: want}
		var r testnetReport
		if err := runJSON(ctx, shoal, args, &r); err != nil {
			c.Got = "error: " + err.Error()
		} else {
			c.Report = &r
			c.Got, c.OK = judge(&r)
		}
		checks = append(checks, c)
		fmt.Fprintf(os.Stderr, "%-34s %-5v want %s; got %s\n", name, c.OK, want, c.Got)
		return c.Report
	}
	pct := func(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

	base := add("3 epochs vs server averaging", job("--epochs", "3", "--baseline"),
		"mean ≥ fedavg − 0.5 pt, hashes agree",
		func(r *testnetReport) (string, bool) {
			if r.FedAvgAccuracy == nil {
				return "no fedavg figure", false
			}
			return fmt.Sprintf("mean %s, fedavg %s, alone %s, agree %v", pct(r.AccuracyMean), pct(*r.FedAvgAccuracy), pct(*r.BaselineAccuracy), r.ModelHashAgreement),
				r.AccuracyMean >= *r.FedAvgAccuracy-0.005 && r.ModelHashAgreement
		})
	add("6 epochs vs train alone 3 epochs", job("--epochs", "6"),
		fmt.Sprintf("mean ≥ %s − 0.3 pt, hashes agree", pct(alone.TestAccuracy)),
		func(r *testnetReport) (string, bool) {
			return fmt.Sprintf("mean %s, agree %v", pct(r.AccuracyMean), r.ModelHashAgreement), r.AccuracyMean >= alone.TestAccuracy-0.003 && r.ModelHashAgreement
		})
	// The bytes of an uncompressed job come from the first run.
	if base != nil {
		c := check{Name: "uncompressed bytes per period", Args: checks[0].Args,
			Want: "bytes_per_peer_per_period ≤ 1.1 × model (ring all-reduce: 2(n−1)/n)",
			Got: fmt.Sprintf("%.3f × per training period (%.3f over all %.1f periods, consensus rounds included; all-reduce %.3f; %.3f × per exchange)",
				base.BytesPerPeerPerPeriod, base.BytesPerPeerPerAveragingPeriod, base.AveragingPeriods, base.AllReduceBytesPerPeriod, base.CommRatio),
			OK: base.BytesPerPeerPerPeriod > 0 && base.BytesPerPeerPerPeriod <= 1.1}
		checks = append(checks, c)
		fmt.Fprintf(os.Stderr, "%-34s %-5v want %s; got %s\n", c.Name, c.OK, c.Want, c.Got)
	}
	add("int8 bytes per period", job("--epochs", "3", "--compress", "int8"),
		"bytes_per_peer_per_period ≤ 0.3 × model, accuracy within 0.5 pt of uncompressed, hashes agree",
		func(r *testnetReport) (string, bool) {
			ok := r.BytesPerPeerPerPeriod > 0 && r.BytesPerPeerPerPeriod <= 0.3 && r.ModelHashAgreement
			got := fmt.Sprintf("%.3f × (%.3f counting consensus rounds as periods), mean %s", r.BytesPerPeerPerPeriod, r.BytesPerPeerPerAveragingPeriod, pct(r.AccuracyMean))
			if base != nil {
				ok = ok && math.Abs(r.AccuracyMean-base.AccuracyMean) <= 0.005
				got += " vs " + pct(base.AccuracyMean)
			}
			return got, ok
		})
	add("churn 0.25", job("--epochs", "3", "--churn", "0.25", "--baseline"),
		"completes, within 1 pt of fedavg, no shard lost",
		func(r *testnetReport) (string, bool) {
			if r.FedAvgAccuracy == nil {
				return "no fedavg figure", false
			}
			return fmt.Sprintf("killed %d, mean %s, fedavg %s, lost %d, agree %v", r.Killed, pct(r.AccuracyMean), pct(*r.FedAvgAccuracy), r.ShardsLost, r.ModelHashAgreement),
				r.Killed > 0 && r.AccuracyMean >= *r.FedAvgAccuracy-0.01 && r.ShardsLost == 0 && r.ModelHashAgreement
		})
	clipped := add("poison 1, --robust clip", job("--epochs", "3", "--poison", "1", "--robust", "clip", "--baseline"),
		"within 2 pt of fedavg, no NaN in honest models",
		func(r *testnetReport) (string, bool) {
			if r.FedAvgAccuracy == nil {
				return "no fedavg figure", false
			}
			return fmt.Sprintf("mean %s, fedavg %s, NaN seen %d, rejected %d, largest round shift %.3g×, agree %v", pct(r.AccuracyMean), pct(*r.FedAvgAccuracy), r.NonFiniteHonest, r.Rejected, r.MaxRoundShift, r.ModelHashAgreement),
				r.AccuracyMean >= *r.FedAvgAccuracy-0.02 && r.NonFiniteHonest == 0
		})
	add("poison 1, no --robust", job("--epochs", "3", "--poison", "1"),
		"shows the damage: an exchange moves an honest model further than with clipping",
		func(r *testnetReport) (string, bool) {
			got := fmt.Sprintf("mean %s, largest round shift %.3g×, consensus distance %.2g after %d rounds, agree %v", pct(r.AccuracyMean), r.MaxRoundShift, r.ConsensusDistance, r.ConsensusRounds, r.ModelHashAgreement)
			return got, clipped != nil && r.MaxRoundShift > clipped.MaxRoundShift
		})
	out := struct {
		AloneAccuracy float64 `json:"alone_accuracy"`
		Checks        []check `json:"checks"`
		Seconds       float64 `json:"seconds"`
		AllOK         bool    `json:"all_ok"`
	}{AloneAccuracy: alone.TestAccuracy, Checks: checks, Seconds: time.Since(start).Seconds(), AllOK: true}
	for _, c := range checks {
		out.AllOK = out.AllOK && c.OK
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	if !out.AllOK {
		return errors.New("some checks failed")
	}
	return nil
}

// runJSON runs the binary and decodes the last line of its stdout.
func runJSON(ctx context.Context, bin string, args []string, v any) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := stderr.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s %s: %w\n%s", bin, strings.Join(args, " "), err, tail)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return json.Unmarshal([]byte(lines[len(lines)-1]), v)
}
