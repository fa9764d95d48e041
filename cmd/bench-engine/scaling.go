package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// scalingResult is one task's thread scaling: each engine's speed with one
// thread and with N, run as back-to-back pairs, and the per-pair speedups.
type scalingResult struct {
	Task string `json:"task"`
	// ShoalOne, ShoalN, TorchOne, TorchN are the median speeds in samples/s.
	ShoalOne float64 `json:"shoal_one"`
	ShoalN   float64 `json:"shoal_n"`
	TorchOne float64 `json:"pytorch_one"`
	TorchN   float64 `json:"pytorch_n"`
	// ShoalPairs and TorchPairs are the speedups (N threads / 1 thread) of
	// each pair, in the order run; the medians are ShoalSpeedup and
	// TorchSpeedup.
	ShoalPairs   []float64 `json:"shoal_pairs"`
	TorchPairs   []float64 `json:"pytorch_pairs"`
	ShoalSpeedup float64   `json:"shoal_speedup"`
	TorchSpeedup float64   `json:"pytorch_speedup"`
	// ShoalAccuracy is the test accuracy of every shoal run: the same for
	// one thread and N if splitting the work changed nothing but the order
	// of sums.
	ShoalAccuracy []float64 `json:"shoal_accuracy"`
}

type scalingReport struct {
	Machine machine         `json:"machine"`
	Threads int             `json:"threads"`
	Epochs  int             `json:"epochs"`
	Seed    int             `json:"seed"`
	Pairs   int             `json:"pairs"`
	Started string          `json:"started"`
	Results []scalingResult `json:"results"`
}

// benchScaling measures how each engine's training speed grows from one
// thread to o.threads. Speeds on a shared machine drift by tens of percent
// within seconds, so each figure is the median of o.repeat pairs, and a pair
// runs the one-thread and the N-thread training back to back (alternating
// which goes first) so that both see the same machine.
func benchScaling(ctx context.Context, w io.Writer, o opts, selected []task, shoalBin, tmp string, torchEnv []string) error {
	if o.threads < 2 {
		return errors.New("-scaling needs -threads of at least 2")
	}
	rep := scalingReport{Machine: describeMachine(), Threads: o.threads, Epochs: o.epochs, Seed: o.seed, Pairs: o.repeat,
		Started: time.Now().UTC().Format(time.RFC3339)}
	fmt.Fprintf(w, "bench-engine -scaling: %s, %d CPUs, load %s; 1 vs %d threads, %d epoch(s), %d pairs\n",
		rep.Machine.CPU, rep.Machine.NumCPU, rep.Machine.Load, o.threads, o.epochs, o.repeat)
	for _, t := range selected {
		dataPath := t.dataPath(o)
		shoalArgs := func(threads int) []string {
			return append([]string{"train", "--model", t.model, "--data", dataPath,
				"--epochs", strconv.Itoa(o.epochs), "--seed", strconv.Itoa(o.seed), "--threads", strconv.Itoa(threads),
				"--out", filepath.Join(tmp, t.name+".safetensors"), "--json", "--quiet"}, t.extra...)
		}
		torchArgs := func(threads int) []string {
			return []string{o.torchRef, t.torchTask(), "--data", dataPath, "--epochs", strconv.Itoa(o.epochs),
				"--threads", strconv.Itoa(threads), "--seed", strconv.Itoa(o.seed)}
		}
		torchEnvFor := func(threads int) []string {
			return append(slices.Clone(torchEnv), "OPENBLAS_NUM_THREADS="+strconv.Itoa(threads))
		}
		r := scalingResult{Task: t.name}
		var s1, sn, p1, pn []float64
		for i := 0; i < o.repeat; i++ {
			order := []int{1, o.threads}
			if i%2 == 1 {
				order = []int{o.threads, 1}
			}
			speeds := map[string]float64{}
			for _, th := range order {
				fmt.Fprintf(os.Stderr, "bench-engine: %s: pair %d/%d: shoal --threads %d\n", t.name, i+1, o.repeat, th)
				sr := runJSON(ctx, o.timeout, "shoal", nil, nil, shoalBin, shoalArgs(th)...)
				if sr.Error != "" {
					return fmt.Errorf("%s: %s", t.name, sr.Error)
				}
				speeds["s"+strconv.Itoa(th)] = sr.SamplesPerSec
				r.ShoalAccuracy = append(r.ShoalAccuracy, sr.TestAccuracy)
			}
			for _, th := range order {
				fmt.Fprintf(os.Stderr, "bench-engine: %s: pair %d/%d: pytorch --threads %d\n", t.name, i+1, o.repeat, th)
				pr := runJSON(ctx, o.timeout, "", []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}, torchEnvFor(th), o.python, torchArgs(th)...)
				if pr.Error != "" {
					return fmt.Errorf("%s: %s", t.name, pr.Error)
				}
				speeds["p"+strconv.Itoa(th)] = pr.SamplesPerSec
			}
			n := strconv.Itoa(o.threads)
			s1, sn = append(s1, speeds["s1"]), append(sn, speeds["s"+n])
			p1, pn = append(p1, speeds["p1"]), append(pn, speeds["p"+n])
			r.ShoalPairs = append(r.ShoalPairs, round(speeds["s"+n]/speeds["s1"], 3))
			r.TorchPairs = append(r.TorchPairs, round(speeds["p"+n]/speeds["p1"], 3))
		}
		r.ShoalOne, r.ShoalN, r.TorchOne, r.TorchN = medianOf(s1), medianOf(sn), medianOf(p1), medianOf(pn)
		r.ShoalSpeedup, r.TorchSpeedup = medianOf(r.ShoalPairs), medianOf(r.TorchPairs)
		rep.Results = append(rep.Results, r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "task\tshoal 1 thr\tshoal %d thr\tshoal speedup\tpytorch 1 thr\tpytorch %d thr\tpytorch speedup\t\n", o.threads, o.threads)
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2fx\t%.0f\t%.0f\t%.2fx\t\n", r.Task, r.ShoalOne, r.ShoalN, r.ShoalSpeedup, r.TorchOne, r.TorchN, r.TorchSpeedup)
	}
	tw.Flush()
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%s: shoal pairs %v, pytorch pairs %v\n", r.Task, r.ShoalPairs, r.TorchPairs)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", b)
	return nil
}

// medianOf returns the median (the mean of the middle two for an even
// count), 0 for none.
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
