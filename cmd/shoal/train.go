package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/train"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

// trainOutput is the --json result of `shoal train`. Scripts depend on it:
// fields may be added, never removed or renamed.
type trainOutput struct {
	Engine        string    `json:"engine"` // "shoal-" + version
	Model         string    `json:"model"`
	Data          string    `json:"data"`
	Kind          string    `json:"kind"`
	Epochs        int       `json:"epochs"`
	Batch         int       `json:"batch"`
	Seed          uint64    `json:"seed"`
	Threads       int       `json:"threads"`
	Optimizer     string    `json:"optimizer"`
	LR            float64   `json:"lr"`
	Params        int       `json:"params"`
	Samples       int       `json:"samples"`
	SamplesPerSec float64   `json:"samples_per_sec"`
	TrainSeconds  float64   `json:"train_seconds"`
	TrainLoss     float64   `json:"train_loss"`
	EpochLoss     []float64 `json:"epoch_loss"`
	TestAccuracy  float64   `json:"test_accuracy"`
	TestLoss      float64   `json:"test_loss"`
	TestSamples   int       `json:"test_samples"`
	// TestSet is "test" (held-out rows or the data's test files) or "train"
	// when --holdout 0 left no test set and the training set was scored.
	TestSet   string `json:"test_set"`
	ModelPath string `json:"model_path"`
	SHA256    string `json:"sha256"`
}

type trainFlags struct {
	model, data, out, optimizer string
	holdout, lr, momentum, wd   float64
	epochs, batch, threads      int
	vocab, maxLen, ngrams       int
	classWeight, pooling        string
	bidirectional               bool
	seed                        uint64
	jsonOut, quiet              bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	c := &cobra.Command{
		Use:   "train --model PRESET|SPEC_FILE --data PATH",
		Short: "Train a model on local data and save it to a model file",
		Long: `Train a model in this process and save it as one safetensors model file.

--model is a preset (` + strings.Join(nn.PresetNames(), ", ") + `) or a JSON/YAML spec file.
--data is an MNIST-style folder of IDX files, or a labelled text file
(label<TAB>text TSV with an optional header, CSV or JSONL).
A text file is split in file order: the last --holdout of its rows are the test set.`,
		Example: `  shoal train --model mlp --data "$(make -s mnist)" --epochs 3 --out mlp.safetensors
  shoal train --model lstm-text --data sms_spam.tsv --holdout 0.2 --epochs 3 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTrain(cmd, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.model, "model", "", "preset name or spec file (required)")
	fl.StringVar(&f.data, "data", "", "MNIST folder or labelled text file (required)")
	fl.Float64Var(&f.holdout, "holdout", train.DefaultHoldout, "fraction of a text file's last rows used as test set (0: none)")
	fl.IntVar(&f.epochs, "epochs", 1, "passes over the training data")
	fl.IntVar(&f.batch, "batch", 0, "batch size (default 64 for images, 32 for text)")
	fl.Float64Var(&f.lr, "lr", train.DefaultLR, "learning rate (embedding-bag models such as text-ngram: 0.01 unless given)")
	fl.StringVar(&f.optimizer, "optimizer", "adam", "adam, adamw or sgd")
	fl.Float64Var(&f.momentum, "momentum", 0, "momentum (sgd)")
	fl.Float64Var(&f.wd, "weight-decay", 0, "weight decay (adamw, sgd)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of initialisation, shuffling and dropout")
	fl.IntVar(&f.threads, "threads", 0, "cores to split each training step over (default 1)")
	fl.IntVar(&f.vocab, "vocab", train.DefaultVocab, "vocabulary size of text models (reserved ids included)")
	fl.StringVar(&f.classWeight, "class-weight", "none", "balanced: weigh each class's gradient by n/(classes·count), so a rare class counts as much as a frequent one; none")
	fl.IntVar(&f.ngrams, "ngrams", 0, "2: add hashed token bigrams to the ids (embedding-bag models such as text-ngram)")
	fl.StringVar(&f.pooling, "pooling", "", "lstm-text/seed-text: the LSTM's output, last (its last real step), mean or max over the real steps (default: the preset's)")
	fl.BoolVar(&f.bidirectional, "bidirectional", false, "lstm-text/seed-text: add an LSTM reading each text backwards (default: the preset's)")
	fl.IntVar(&f.maxLen, "max-len", 0, fmt.Sprintf("ids per text, padded or truncated (0: from the data, the %.0fth percentile of the training texts, at most %d; %d for n-gram models)", 100*train.MaxLenPercentile, train.MaxLenCap, train.MaxLenCapNGrams))
	fl.StringVar(&f.out, "out", "", "model file to write (default NAME.safetensors)")
	fl.BoolVar(&f.jsonOut, "json", false, "print the result as one JSON object on the last stdout line")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress on stderr")
	_ = c.MarkFlagRequired("model")
	_ = c.MarkFlagRequired("data")
	_ = c.MarkFlagFilename("data")
	_ = c.MarkFlagFilename("out", "safetensors")
	_ = c.RegisterFlagCompletionFunc("model", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nn.PresetNames(), cobra.ShellCompDirectiveDefault
	})
	_ = c.RegisterFlagCompletionFunc("optimizer", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"adam", "adamw", "sgd"}, cobra.ShellCompDirectiveNoFileComp
	})
	return c
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	switch {
	case f.epochs < 1:
		return fmt.Errorf("--epochs must be at least 1, got %d", f.epochs)
	case f.batch < 0:
		return fmt.Errorf("--batch must be positive, got %d", f.batch)
	case f.threads < 0:
		return fmt.Errorf("--threads must be positive, got %d", f.threads)
	case !(f.lr > 0):
		return fmt.Errorf("--lr must be positive, got %g", f.lr)
	case f.holdout < 0 || f.holdout >= 1:
		return fmt.Errorf("--holdout must be in [0,1), got %g", f.holdout)
	case f.classWeight != "none" && f.classWeight != "balanced":
		return fmt.Errorf("--class-weight %q: want balanced or none", f.classWeight)
	}
	// Catch a mistyped --model before the data is read, which can be slow.
	if !slices.Contains(nn.PresetNames(), f.model) {
		if _, err := os.Stat(f.model); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--model %s: not a preset (%s) and no such file", f.model, strings.Join(nn.PresetNames(), ", "))
		}
	}
	stderr := cmd.ErrOrStderr()
	def := train.DefaultsFor(f.model)
	if def.LR > 0 && !cmd.Flags().Changed("lr") {
		f.lr = def.LR
	}
	if def.Vocab > 0 && !cmd.Flags().Changed("vocab") {
		f.vocab = def.Vocab
	}
	if def.Batch > 0 && f.batch == 0 {
		f.batch = def.Batch
	}
	prep, err := train.PrepareData(train.DataOptions{Path: f.data, Holdout: f.holdout, Vocab: f.vocab, MaxLen: f.maxLen,
		NGrams: f.ngrams})
	if err != nil {
		return err
	}
	if prep.Encoder != nil && !f.quiet {
		fmt.Fprintf(stderr, "texts: %d ids each%s; %s of the training texts and %s of the test texts were longer and lost their end\n",
			prep.Encoder.MaxLen, lengthSource(f.maxLen), truncatedShare(prep.Train), truncatedShare(prep.Test))
	}
	if prep.Kind == train.KindImage && cmd.Flags().Changed("holdout") && !f.quiet {
		fmt.Fprintln(stderr, "note: --holdout is ignored: the image folder has its own test files")
	}
	mo := train.ModelOptions{Pooling: f.pooling}
	if cmd.Flags().Changed("bidirectional") {
		mo.Directions = 1
		if f.bidirectional {
			mo.Directions = 2
		}
	}
	m, err := train.BuildModelWith(f.model, prep, f.seed, mo)
	if err != nil {
		return err
	}
	switch f.classWeight {
	case "none":
	case "balanced":
		w := nn.BalancedClassWeights(prep.Train.Y, max(m.OutputSize(), 2))
		if err := m.SetClassWeights(w); err != nil {
			return err
		}
		if !f.quiet {
			fmt.Fprintf(stderr, "class weights %v (balanced)\n", w)
		}
	}
	if f.batch == 0 {
		f.batch = 64
		if prep.Kind == train.KindText {
			f.batch = 32
		}
	}
	if f.out == "" {
		name := filepath.Base(f.model)
		name = strings.TrimSuffix(name, filepath.Ext(name))
		f.out = name + ".safetensors"
	}
	cfg := train.Config{
		Epochs:    f.epochs,
		BatchSize: f.batch,
		Optimizer: nn.OptimizerConfig{Name: f.optimizer, LR: f.lr, Momentum: f.momentum, WeightDecay: f.wd},
		Seed:      f.seed,
		Threads:   f.threads,
	}
	if !f.quiet {
		test := "no test set"
		if prep.Test != nil {
			test = fmt.Sprintf("testing on %d", prep.Test.N)
		}
		fmt.Fprintf(stderr, "training %s (%d parameters) on %d samples, %s; %d epochs, batch %d\n",
			f.model, m.NumParams(), prep.Train.N, test, f.epochs, f.batch)
		cfg.Progress = newProgress(stderr, f.epochs)
	}
	res, err := train.Fit(cmd.Context(), m, prep.Train, prep.Test, cfg)
	if cfg.Progress != nil {
		cfg.Progress(train.Progress{Step: -1}) // finish the bar
	}
	if err != nil {
		return err
	}
	testSet := "test"
	mt := res.Test
	if mt == nil {
		testSet = "train"
		ev, err := train.Evaluate(m, prep.Train, 0)
		if err != nil {
			return err
		}
		mt = &ev
	}
	prov := artifact.Provenance{
		Created:      time.Now().UTC().Truncate(time.Second),
		Shoal:        version,
		Go:           runtime.Version(),
		Model:        f.model,
		Data:         f.data,
		Seed:         f.seed,
		Epochs:       f.epochs,
		Batch:        f.batch,
		Optimizer:    f.optimizer,
		LR:           f.lr,
		Samples:      res.Samples,
		TrainSeconds: res.TrainSeconds,
		TestAccuracy: &mt.Accuracy,
		TestLoss:     &mt.Loss,
		TestSamples:  mt.Samples,
	}
	if prep.Kind == train.KindText {
		prov.Holdout = f.holdout
	}
	a, err := artifact.New(m, prep.Kind, prep.Labels, prep.Encoder, prov)
	if err != nil {
		return err
	}
	sum, err := a.Save(f.out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	out := trainOutput{
		Engine: "shoal-" + version, Model: f.model, Data: f.data, Kind: prep.Kind,
		Epochs: f.epochs, Batch: f.batch, Seed: f.seed, Threads: gemm.Threads(),
		Optimizer: f.optimizer, LR: f.lr, Params: m.NumParams(),
		Samples: res.Samples, SamplesPerSec: round(res.SamplesPerSec, 1), TrainSeconds: round(res.TrainSeconds, 3),
		EpochLoss:    res.EpochLoss,
		TestAccuracy: round(mt.Accuracy, 5), TestLoss: round(mt.Loss, 5), TestSamples: mt.Samples, TestSet: testSet,
		ModelPath: f.out, SHA256: sum,
	}
	if n := len(res.EpochLoss); n > 0 {
		out.TrainLoss = round(res.EpochLoss[n-1], 5)
	}
	stdout := cmd.OutOrStdout()
	if f.jsonOut {
		return writeJSONLine(stdout, out)
	}
	fmt.Fprintf(stdout, "%s accuracy %.2f%%, loss %.4f (%d samples)\n", testSet, 100*mt.Accuracy, mt.Loss, mt.Samples)
	fmt.Fprintf(stdout, "trained %d samples in %.1f s: %.0f samples/s (%d thread(s))\n", res.Samples, res.TrainSeconds, res.SamplesPerSec, gemm.Threads())
	fmt.Fprintf(stdout, "saved %s (sha256 %s)\n", f.out, sum)
	return nil
}

// round keeps JSON short; NaN and infinities, which JSON cannot hold,
// become 0.
func round(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// newProgress returns a training callback: a progress bar when stderr is a
// terminal, one line per epoch otherwise (logs stay readable). A call with
// Step -1 finishes it.
func newProgress(w io.Writer, epochs int) func(train.Progress) {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	var bar *progressbar.ProgressBar
	var last time.Time
	return func(p train.Progress) {
		if p.Step == -1 {
			if bar != nil {
				_ = bar.Finish()
				fmt.Fprintln(w)
			}
			return
		}
		if tty {
			if bar == nil {
				bar = progressbar.NewOptions(p.TotalSamples,
					progressbar.OptionSetWriter(w),
					progressbar.OptionSetDescription("training"),
					progressbar.OptionShowCount(),
					progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("samples"),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionSetPredictTime(true),
				)
			}
			// Updating at most 10 times a second keeps the bar off the
			// hot path.
			if now := time.Now(); now.Sub(last) > 100*time.Millisecond || p.Samples == p.TotalSamples {
				last = now
				bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", p.Epoch, epochs, p.EpochLoss))
				_ = bar.Set(p.Samples)
			}
			return
		}
		if p.Step == p.Steps {
			fmt.Fprintf(w, "epoch %d/%d: loss %.4f, %.1f s\n", p.Epoch, epochs, p.EpochLoss, p.Elapsed.Seconds())
		}
	}
}

// lengthSource says where the text length came from, for the line above.
func lengthSource(flag int) string {
	if flag != 0 {
		return " (--max-len)"
	}
	return fmt.Sprintf(" (the %.0fth percentile of the training texts)", 100*train.MaxLenPercentile)
}

// truncatedShare is "12 (0.5%)" of a dataset's truncated texts, "none"
// without a dataset.
func truncatedShare(d *data.Dataset) string {
	if d == nil || d.N == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%.1f%%)", d.Truncated, 100*float64(d.Truncated)/float64(d.N))
}
