package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBenchWithFakeEngines runs the whole comparison against two shell
// scripts standing in for shoal and PyTorch.
func TestBenchWithFakeEngines(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	// The fake shoal checks that it got --threads and --json, prints noise
	// first and its JSON last.
	shoal := script(t, dir, "shoal", `case "$*" in *"--threads 1"*"--json"*) ;; *) echo "bad args: $*" >&2; exit 2;; esac
echo "some text"
echo '{"samples_per_sec": 3000, "train_seconds": 2.5, "test_accuracy": 0.95}'
`)
	// The fake torch_ref.py fails if OPENBLAS_CORETYPE leaked through.
	python := script(t, dir, "python", `if [ -n "$OPENBLAS_CORETYPE" ]; then echo "OPENBLAS_CORETYPE is set" >&2; exit 3; fi
if [ "$OPENBLAS_NUM_THREADS" != 1 ]; then echo "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS" >&2; exit 4; fi
echo '{"task": "'$2'", "engine": "pytorch-fake", "samples_per_sec": 2000, "train_seconds": 3, "test_accuracy": 0.96}'
`)
	t.Setenv("OPENBLAS_CORETYPE", "Haswell")
	var out bytes.Buffer
	err := bench(context.Background(), &out, opts{shoal: shoal, python: python, torchRef: "ref.py", mnist: dir, sms: "x.tsv",
		tasks: "mlp-mnist,lstm-sms", epochs: 1, threads: 1, seed: 1, repeat: 3, timeout: time.Minute})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Results) != 2 || rep.Repeat != 3 {
		t.Fatalf("report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Ratio != 1.5 || r.AccuracyOK || r.PyTorch.Engine != "pytorch-fake" || r.Shoal.TestAccuracy != 0.95 {
			t.Errorf("result %+v: want ratio 1.5, accuracy not ok (0.95 < 0.96)", r)
		}
	}
	// The mlp's step is counted (0.409 MFLOP at 3000 samples/s); the LSTM's
	// is not.
	mlp, lstm := rep.Results[0], rep.Results[1]
	if mlp.TrainFLOPs != 409088 || mlp.ShoalGFLOPS != 1.23 || lstm.TrainFLOPs != 0 || lstm.PctPeak != 0 {
		t.Errorf("flops: mlp %+v, lstm %+v", mlp, lstm)
	}
	if rep.PeakISA != "" && (mlp.PeakGFLOPS <= 0 || mlp.PctPeak != round(100*mlp.ShoalGFLOPS/mlp.PeakGFLOPS, 1)) {
		t.Errorf("peak: %+v", mlp)
	}
	if !strings.Contains(out.String(), "% of peak") {
		t.Errorf("no %%-of-peak table:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "mlp-mnist") || !strings.Contains(out.String(), "1.50") {
		t.Errorf("table lacks the figures:\n%s", out.String())
	}

	// A failing engine is reported, and bench returns an error.
	out.Reset()
	broken := script(t, dir, "broken", "echo 'not json'\n")
	err = bench(context.Background(), &out, opts{shoal: shoal, python: broken, torchRef: "ref.py", sms: "x.tsv",
		tasks: "lstm-sms", epochs: 1, threads: 1, seed: 1, repeat: 1, timeout: time.Minute})
	if err == nil || !strings.Contains(out.String(), "failed") {
		t.Fatalf("err = %v, output:\n%s", err, out.String())
	}
}

func TestBenchArgs(t *testing.T) {
	// Each case must fail for its own reason: without the check, bench would
	// go on and fail later (running the empty -shoal path), so the message
	// is what shows the check works.
	for _, c := range []struct {
		o    opts
		want string
	}{
		{opts{tasks: "nosuch", epochs: 1, threads: 1, repeat: 1}, `unknown task "nosuch" (known: mlp-mnist, lstm-sms, cnn-mnist, lstm-waimai)`},
		{opts{tasks: "mlp-mnist", epochs: 1, threads: 1, repeat: 1}, "-mnist is required"},
		{opts{tasks: "lstm-sms", epochs: 1, threads: 1, repeat: 0}, "-repeat"},
	} {
		if err := bench(context.Background(), &bytes.Buffer{}, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench(%+v) = %v, want an error mentioning %q", c.o, err, c.want)
		}
	}
}

func TestMedian(t *testing.T) {
	rs := []run{{SamplesPerSec: 5}, {SamplesPerSec: 1}, {SamplesPerSec: 3}}
	if m := median(rs); m.SamplesPerSec != 3 {
		t.Errorf("median %v, want 3", m.SamplesPerSec)
	}
	rs = append(rs, run{Error: "boom"})
	if m := median(rs); m.Error != "boom" {
		t.Errorf("a failed run must not be hidden: %+v", m)
	}
}

// TestScalingWithFakeEngines runs -scaling against scripts whose speed
// depends on --threads, and checks the pairs, medians and the thread count
// each engine was given.
func TestScalingWithFakeEngines(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	shoal := script(t, dir, "shoal", `case "$*" in
*"--threads 1 "*) echo '{"samples_per_sec": 3000, "train_seconds": 2, "test_accuracy": 0.95}';;
*"--threads 2 "*) echo '{"samples_per_sec": 5400, "train_seconds": 1, "test_accuracy": 0.95}';;
*) echo "bad args: $*" >&2; exit 2;;
esac
`)
	python := script(t, dir, "python", `case "$*" in
*"--threads $OPENBLAS_NUM_THREADS "*) ;;
*) echo "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS for $*" >&2; exit 4;;
esac
echo '{"engine": "pytorch-fake", "samples_per_sec": '$((1000 * (OPENBLAS_NUM_THREADS + 1)))', "train_seconds": 3, "test_accuracy": 0.96}'
`)
	var out bytes.Buffer
	err := bench(context.Background(), &out, opts{shoal: shoal, python: python, torchRef: "ref.py", mnist: dir, sms: "x.tsv",
		tasks: "mlp-mnist", epochs: 1, threads: 2, seed: 1, repeat: 3, timeout: time.Minute, scaling: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rep scalingReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, out.String())
	}
	if len(rep.Results) != 1 || rep.Pairs != 3 || rep.Threads != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Results[0]
	if r.ShoalSpeedup != 1.8 || len(r.ShoalPairs) != 3 || r.ShoalOne != 3000 || r.ShoalN != 5400 || len(r.ShoalAccuracy) != 6 {
		t.Errorf("shoal: %+v, want speedup 1.8 over 3 pairs, 6 accuracies", r)
	}
	if r.TorchOne != 2000 || r.TorchN != 3000 || r.TorchSpeedup != 1.5 {
		t.Errorf("pytorch: %+v, want 2000 and 3000 samples/s, speedup 1.5", r)
	}
	if !strings.Contains(out.String(), "1.80x") {
		t.Errorf("table lacks the speedup:\n%s", out.String())
	}
	if err := bench(context.Background(), &out, opts{shoal: shoal, python: python, mnist: dir, tasks: "mlp-mnist",
		epochs: 1, threads: 1, seed: 1, repeat: 1, timeout: time.Minute, scaling: true}); err == nil {
		t.Error("-scaling with -threads 1 was accepted")
	}
}

// TestTrainFLOPs checks the count against issue 14's figures, worked out by
// hand: mlp 784→128→10 is 100,352 + 1,280 multiply-adds forward; training
// adds the weight gradients of both layers and the input gradient of the
// second. The cnn's layers are 112,896 (conv 1→16 on 28×28, 3×3), 903,168
// (conv 16→32 on 14×14), 200,704 (1568→128) and 1,280 multiply-adds.
func TestTrainFLOPs(t *testing.T) {
	for _, c := range []struct {
		preset     string
		fwd, train float64
		countable  bool
	}{
		{"mlp", 2 * (100352 + 1280), 4*(100352+1280) + 2*1280, true},
		{"cnn", 2 * (112896 + 903168 + 200704 + 1280), 4*(112896+903168+200704+1280) + 2*(903168+200704+1280), true},
		{"logreg", 2 * 7840, 4 * 7840, true},
		{"lstm-text", 0, 0, false},
	} {
		fwd, train, ok := presetFLOPs(c.preset)
		if ok != c.countable || fwd != c.fwd || train != c.train {
			t.Errorf("%s: got forward %.0f, train %.0f, ok %v; want %.0f, %.0f, %v", c.preset, fwd, train, ok, c.fwd, c.train, c.countable)
		}
	}
}

// TestMeasurePeak: where a loop exists the peak is a positive rate below
// any real core's (16 lanes × 2 ports × 2 flops × 10 GHz = 640 GFLOP/s).
func TestMeasurePeak(t *testing.T) {
	p, isa := measurePeak()
	if isa == "" {
		if p != 0 {
			t.Fatalf("no loop but peak %.1f", p)
		}
		t.Skip("no FMA loop on this machine")
	}
	if p <= 0 || p > 640 {
		t.Fatalf("%s peak %.1f GFLOP/s", isa, p)
	}
	t.Logf("%s FMA peak, one core: %.1f GFLOP/s", isa, p)
}
