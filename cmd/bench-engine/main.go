package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// task is one side-by-side comparison.
type task struct {
	name  string   // the task's name, and torch_ref.py's unless torch says otherwise
	torch string   // torch_ref.py task name when it differs from name
	model string   // shoal preset
	data  string   // "mnist", "sms" or "waimai"
	extra []string // shoal flags that make the run match torch_ref.py
}

// torchTask is the torch_ref.py task that runs t.
func (t task) torchTask() string {
	if t.torch != "" {
		return t.torch
	}
	return t.name
}

// dataPath is the data set t trains on.
func (t task) dataPath(o opts) string {
	switch t.data {
	case "mnist":
		return o.mnist
	case "waimai":
		return o.waimaiHamSpam
	}
	return o.sms
}

// hamSpamCopy writes the pos/neg reviews at src to dir with torch_ref.py's
// class names (it reads only ham/spam labels): neg becomes ham and pos
// spam, which keeps shoal's class order (neg < pos, ham < spam), and both
// engines train on the copy.
func hamSpamCopy(src, dir string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("-waimai: %w", err)
	}
	var out strings.Builder
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		label, text, ok := strings.Cut(line, "\t")
		switch {
		case i == 0 && label == "label":
			continue // header
		case !ok || (label != "pos" && label != "neg"):
			return "", fmt.Errorf("-waimai %s:%d: want pos or neg, a tab, a text", src, i+1)
		case label == "pos":
			label = "spam"
		default:
			label = "ham"
		}
		out.WriteString(label + "\t" + text + "\n")
	}
	dst := filepath.Join(dir, "waimai-ham-spam.tsv")
	return dst, os.WriteFile(dst, []byte(out.String()), 0o644)
}

var tasks = []task{
	{"mlp-mnist", "", "mlp", "mnist", []string{"--batch", "64", "--optimizer", "adam", "--lr", "0.001"}},
	{"lstm-sms", "", "lstm-text", "sms", []string{"--batch", "32", "--optimizer", "adam", "--lr", "0.001", "--holdout", "0.2", "--vocab", "10000", "--max-len", "50"}},
	{"cnn-mnist", "", "cnn", "mnist", []string{"--batch", "64", "--optimizer", "adam", "--lr", "0.001"}},
	// The Chinese reviews through the same LSTM: torch_ref.py's tokenizer
	// keeps a run of Han characters as one token where shoal's gives every
	// character and bigram, so accuracies differ by tokenization; the
	// network and its 50 steps are the same, so the speeds compare.
	{"lstm-waimai", "lstm-sms", "lstm-text", "waimai", []string{"--batch", "32", "--optimizer", "adam", "--lr", "0.001", "--holdout", "0.2", "--vocab", "10000", "--max-len", "50"}},
}

// run is what one engine reported for one task.
type run struct {
	Engine        string  `json:"engine"`
	SamplesPerSec float64 `json:"samples_per_sec"`
	TrainSeconds  float64 `json:"train_seconds"`
	TestAccuracy  float64 `json:"test_accuracy"`
	Error         string  `json:"error,omitempty"`
}

type result struct {
	Task    string  `json:"task"`
	Shoal   run     `json:"shoal"`
	PyTorch run     `json:"pytorch"`
	Ratio   float64 `json:"ratio"` // shoal/PyTorch samples per second; 0 when either failed
	// AccuracyOK: shoal's test accuracy is no lower than PyTorch's.
	AccuracyOK bool `json:"accuracy_ok"`
	// ForwardFLOPs and TrainFLOPs are the flops of one sample's forward
	// pass and of its training step as trainFLOPs counts them; 0 for tasks
	// it cannot count (the LSTMs).
	ForwardFLOPs float64 `json:"forward_flops_per_sample,omitempty"`
	TrainFLOPs   float64 `json:"train_flops_per_sample,omitempty"`
	// ShoalGFLOPS is TrainFLOPs at shoal's median speed; PeakGFLOPS the FMA
	// loop's rate measured around this task's shoal runs (the best of them,
	// one core's figure times the threads); PctPeak the first over the
	// second in percent.
	ShoalGFLOPS float64 `json:"shoal_gflops,omitempty"`
	PeakGFLOPS  float64 `json:"peak_gflops,omitempty"`
	PctPeak     float64 `json:"pct_of_peak,omitempty"`
}

type report struct {
	Machine machine `json:"machine"`
	Threads int     `json:"threads"`
	Epochs  int     `json:"epochs"`
	Seed    int     `json:"seed"`
	Repeat  int     `json:"repeat"`
	Started string  `json:"started"`
	// PeakISA is the instruction set of the FMA loop the peak was measured
	// with ("AVX-512" or "AVX2"; "" when none ran).
	PeakISA string   `json:"peak_isa,omitempty"`
	Results []result `json:"results"`
}

type machine struct {
	CPU    string `json:"cpu"`
	NumCPU int    `json:"num_cpu"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Load   string `json:"load_avg,omitempty"` // /proc/loadavg at start: other work skews figures
	// TorchBLAS is "openblas", "reference" or "" (unknown): the libblas.so.3
	// PyTorch will load.
	TorchBLAS string `json:"torch_blas,omitempty"`
}

// blasInUse guesses which libblas.so.3 a Debian PyTorch loads: one on an
// LD_LIBRARY_PATH given in env, else the alternatives link.
func blasInUse(env []string) string {
	classify := func(path string) string {
		switch {
		case strings.Contains(path, "openblas"):
			return "openblas"
		case strings.Contains(path, "/blas/"):
			return "reference"
		}
		return ""
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "LD_LIBRARY_PATH="); ok {
			for _, dir := range filepath.SplitList(v) {
				if _, err := os.Stat(filepath.Join(dir, "libblas.so.3")); err == nil {
					return classify(dir)
				}
			}
		}
	}
	triplet := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	target, err := filepath.EvalSymlinks("/etc/alternatives/libblas.so.3-" + triplet + "-linux-gnu")
	if err != nil {
		return ""
	}
	return classify(target)
}

func main() {
	var (
		shoalBin = flag.String("shoal", "bin/shoal", "shoal binary")
		python   = flag.String("python", "/usr/bin/python3", "Python interpreter that has torch")
		torchRef = flag.String("torch-ref", "../shared/peers/torch_ref.py", "PyTorch reference trainer")
		mnist    = flag.String("mnist", "", "MNIST folder (make -s mnist)")
		sms      = flag.String("sms", "../shared/data/sms_spam.tsv", "SMS spam TSV")
		waimai   = flag.String("waimai", "../shared/data/waimai_10k.tsv", "Chinese reviews TSV (waimai_10k)")
		only     = flag.String("tasks", "mlp-mnist,lstm-sms,cnn-mnist,lstm-waimai", "comma-separated tasks")
		epochs   = flag.Int("epochs", 1, "epochs per run")
		threads  = flag.Int("threads", 1, "threads for both engines")
		seed     = flag.Int("seed", 1, "seed for both engines")
		repeat   = flag.Int("repeat", 1, "runs per engine and task (median reported)")
		timeout  = flag.Duration("timeout", 30*time.Minute, "limit for each run")
		torchEnv = flag.String("torch-env", "", "extra K=V,K=V environment for the PyTorch runs (e.g. LD_LIBRARY_PATH of an OpenBLAS)")
		scaling  = flag.Bool("scaling", false, "measure each engine's speedup from 1 thread to -threads instead (-repeat pairs)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := bench(ctx, os.Stdout, opts{*shoalBin, *python, *torchRef, *mnist, *sms, *waimai, *only, *torchEnv, "", *epochs, *threads, *seed, *repeat, *timeout, *scaling}); err != nil {
		fmt.Fprintln(os.Stderr, "bench-engine:", err)
		os.Exit(1)
	}
}

type opts struct {
	shoal, python, torchRef, mnist, sms, waimai, tasks, torchEnv string
	waimaiHamSpam                                                string // set by bench
	epochs, threads, seed, repeat                                int
	timeout                                                      time.Duration
	scaling                                                      bool
}

func bench(ctx context.Context, w io.Writer, o opts) error {
	if o.repeat < 1 || o.epochs < 1 || o.threads < 1 {
		return errors.New("-repeat, -epochs and -threads must be at least 1")
	}
	var selected []task
	for _, name := range strings.Split(o.tasks, ",") {
		i := slices.IndexFunc(tasks, func(t task) bool { return t.name == strings.TrimSpace(name) })
		if i < 0 {
			known := make([]string, len(tasks))
			for i, t := range tasks {
				known[i] = t.name
			}
			return fmt.Errorf("unknown task %q (known: %s)", name, strings.Join(known, ", "))
		}
		selected = append(selected, tasks[i])
	}
	for _, t := range selected {
		if t.data == "mnist" && o.mnist == "" {
			return errors.New("-mnist is required for the MNIST tasks (make -s mnist prints the folder)")
		}
	}
	shoalBin, err := filepath.Abs(o.shoal)
	if err != nil {
		return err
	}
	if _, err := os.Stat(shoalBin); err != nil {
		return fmt.Errorf("-shoal: %w (run make build)", err)
	}
	tmp, err := os.MkdirTemp("", "bench-engine-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if slices.ContainsFunc(selected, func(t task) bool { return t.data == "waimai" }) {
		if o.waimaiHamSpam, err = hamSpamCopy(o.waimai, tmp); err != nil {
			return err
		}
	}

	if o.scaling {
		var env []string
		if o.torchEnv != "" {
			env = strings.Split(o.torchEnv, ",")
		}
		return benchScaling(ctx, w, o, selected, shoalBin, tmp, env)
	}
	rep := report{Machine: describeMachine(), Threads: o.threads, Epochs: o.epochs, Seed: o.seed, Repeat: o.repeat,
		Started: time.Now().UTC().Format(time.RFC3339)}
	fmt.Fprintf(w, "bench-engine: %s, %d CPUs, load %s; %d thread(s), %d epoch(s), seed %d\n",
		rep.Machine.CPU, rep.Machine.NumCPU, rep.Machine.Load, o.threads, o.epochs, o.seed)
	// PyTorch from Debian calls whatever libblas.so.3 the alternatives
	// system points at; the reference BLAS there did a 512³ product 7x
	// slower than OpenBLAS (BENCHMARKS.md) and would flatter shoal.
	extraEnv := []string{"OPENBLAS_NUM_THREADS=" + strconv.Itoa(o.threads)}
	if o.torchEnv != "" {
		extraEnv = append(extraEnv, strings.Split(o.torchEnv, ",")...)
	}
	if rep.Machine.TorchBLAS = blasInUse(extraEnv); rep.Machine.TorchBLAS == "reference" {
		fmt.Fprintln(w, "WARNING: PyTorch will run on the reference BLAS (libblas3), several times slower than OpenBLAS;")
		fmt.Fprintln(w, "         install libopenblas0-pthread, or pass -torch-env LD_LIBRARY_PATH=<openblas dir>, for a fair ratio.")
	}
	failed := false
	for _, t := range selected {
		dataPath := t.dataPath(o)
		shoalArgs := append([]string{"train", "--model", t.model, "--data", dataPath,
			"--epochs", strconv.Itoa(o.epochs), "--seed", strconv.Itoa(o.seed), "--threads", strconv.Itoa(o.threads),
			"--out", filepath.Join(tmp, t.name+".safetensors"), "--json", "--quiet"}, t.extra...)
		torchArgs := []string{o.torchRef, t.torchTask(), "--data", dataPath, "--epochs", strconv.Itoa(o.epochs),
			"--threads", strconv.Itoa(o.threads), "--seed", strconv.Itoa(o.seed)}
		var sr, pr []run
		peak := 0.0
		measure := func() {
			p, isa := measurePeak()
			peak, rep.PeakISA = max(peak, p), isa
		}
		for i := 0; i < o.repeat; i++ {
			fmt.Fprintf(os.Stderr, "bench-engine: %s: shoal (run %d/%d)\n", t.name, i+1, o.repeat)
			measure()
			sr = append(sr, runJSON(ctx, o.timeout, "shoal", nil, nil, shoalBin, shoalArgs...))
			measure()
			fmt.Fprintf(os.Stderr, "bench-engine: %s: pytorch (run %d/%d)\n", t.name, i+1, o.repeat)
			pr = append(pr, runJSON(ctx, o.timeout, "", []string{"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}, extraEnv, o.python, torchArgs...))
		}
		r := result{Task: t.name, Shoal: median(sr), PyTorch: median(pr)}
		if r.Shoal.Error == "" && r.PyTorch.Error == "" && r.PyTorch.SamplesPerSec > 0 {
			r.Ratio = round(r.Shoal.SamplesPerSec/r.PyTorch.SamplesPerSec, 3)
			r.AccuracyOK = r.Shoal.TestAccuracy >= r.PyTorch.TestAccuracy
		} else {
			failed = true
		}
		if fwd, train, ok := presetFLOPs(t.model); ok {
			r.ForwardFLOPs, r.TrainFLOPs = fwd, train
			if r.Shoal.Error == "" && peak > 0 {
				r.ShoalGFLOPS = round(train*r.Shoal.SamplesPerSec/1e9, 2)
				r.PeakGFLOPS = round(peak*float64(o.threads), 1)
				r.PctPeak = round(100*r.ShoalGFLOPS/r.PeakGFLOPS, 1)
			}
		}
		rep.Results = append(rep.Results, r)
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "task\tshoal samples/s\tpytorch samples/s\tratio\tshoal acc\tpytorch acc\tshoal s\tpytorch s\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t\n", r.Task,
			num(r.Shoal, r.Shoal.SamplesPerSec, "%.0f"), num(r.PyTorch, r.PyTorch.SamplesPerSec, "%.0f"), r.Ratio,
			num(r.Shoal, 100*r.Shoal.TestAccuracy, "%.2f%%"), num(r.PyTorch, 100*r.PyTorch.TestAccuracy, "%.2f%%"),
			num(r.Shoal, r.Shoal.TrainSeconds, "%.1f"), num(r.PyTorch, r.PyTorch.TrainSeconds, "%.1f"))
	}
	tw.Flush()
	// The training step against the core: flops as trainFLOPs counts them,
	// the peak measured around the same runs (issue 14).
	fmt.Fprintf(w, "training flops against the measured %s FMA peak (%d thread(s) × one core's best):\n", cmp.Or(rep.PeakISA, "(none)"), o.threads)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "task\tforward MFLOP/sample\ttrain MFLOP/sample\tshoal GFLOP/s\tpeak GFLOP/s\t% of peak\t")
	for _, r := range rep.Results {
		if r.TrainFLOPs == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t\n", r.Task)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.1f\t%.1f\t%s\t\n", r.Task, r.ForwardFLOPs/1e6, r.TrainFLOPs/1e6,
			r.ShoalGFLOPS, r.PeakGFLOPS, pctOfPeak(r.ShoalGFLOPS, r.PeakGFLOPS))
	}
	tw.Flush()
	for _, r := range rep.Results {
		for _, x := range []run{r.Shoal, r.PyTorch} {
			if x.Error != "" {
				fmt.Fprintf(w, "%s: %s failed: %s\n", r.Task, x.Engine, x.Error)
			}
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", b)
	if failed {
		return errors.New("some runs failed (see above)")
	}
	return nil
}

func num(r run, v float64, format string) string {
	if r.Error != "" {
		return "failed"
	}
	return fmt.Sprintf(format, v)
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// median returns the run with the median speed (the lower middle one for an
// even count); a failed run wins, so failures are never hidden.
func median(rs []run) run {
	for _, r := range rs {
		if r.Error != "" {
			return r
		}
	}
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b run) int { return cmp.Compare(a.SamplesPerSec, b.SamplesPerSec) })
	return s[(len(s)-1)/2]
}

// runJSON runs a command and decodes the JSON object on the last non-empty
// line of its stdout. Its stderr passes through. unset names variables to
// remove from its environment, extra adds K=V entries (after unset).
func runJSON(ctx context.Context, timeout time.Duration, engine string, unset, extra []string, name string, args ...string) run {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(unset, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extra...) // later entries win
	r := run{Engine: engine}
	if err := cmd.Run(); err != nil {
		r.Error = fmt.Sprintf("%s: %v", filepath.Base(name), err)
		return r
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got struct {
		Engine        string   `json:"engine"`
		SamplesPerSec *float64 `json:"samples_per_sec"`
		TrainSeconds  float64  `json:"train_seconds"`
		TestAccuracy  *float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil || got.SamplesPerSec == nil || got.TestAccuracy == nil {
		r.Error = fmt.Sprintf("%s: last stdout line is not the expected JSON: %.200q", filepath.Base(name), lines[len(lines)-1])
		return r
	}
	if got.Engine != "" {
		r.Engine = got.Engine
	}
	r.SamplesPerSec, r.TrainSeconds, r.TestAccuracy = *got.SamplesPerSec, got.TrainSeconds, *got.TestAccuracy
	return r
}

func describeMachine() machine {
	m := machine{CPU: runtime.GOARCH, NumCPU: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}
