package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/engine/nn"
)

// blobs makes n samples of dim features in k well separated Gaussian
// clusters (class c centred at +4 on feature c mod dim).
func blobs(n, dim, k int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{X: make([]float32, n*dim), Y: make([]float32, n), N: n, SampleShape: []int{dim}, Labels: DigitLabels(k)}
	for i := 0; i < n; i++ {
		c := i % k
		d.Y[i] = float32(c)
		for j := 0; j < dim; j++ {
			d.X[i*dim+j] = float32(r.NormFloat64())
		}
		d.X[i*dim+c%dim] += 4
	}
	return d
}

func mlpSpec(in, hidden, out int) nn.Spec {
	return nn.Spec{Input: []int{in}, Layers: []nn.LayerSpec{
		{Type: "dense", Units: hidden, Activation: "relu"},
		{Type: "dense", Units: out},
	}}
}

func build(t testing.TB, s nn.Spec, seed uint64) *nn.Model {
	t.Helper()
	m, err := nn.Build(s, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFitLearnsAndIsReproducible(t *testing.T) {
	tr, te := blobs(600, 8, 3, 1), blobs(300, 8, 3, 2)
	run := func(seed uint64) ([]float32, *Result) {
		m := build(t, mlpSpec(8, 16, 3), 7)
		res, err := Fit(context.Background(), m, tr, te, Config{Epochs: 3, BatchSize: 32, Seed: seed, Optimizer: nn.OptimizerConfig{Name: "adam", LR: 0.01}})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(m.Params()), res
	}
	p1, r1 := run(1)
	if r1.Test == nil || r1.Test.Accuracy < 0.95 {
		t.Fatalf("test metrics %+v, want accuracy >= 0.95 on separable blobs", r1.Test)
	}
	if r1.Samples != 3*600 || r1.Steps != 3*((600+31)/32) || len(r1.EpochLoss) != 3 {
		t.Fatalf("result counts %+v", r1)
	}
	if !(r1.EpochLoss[2] < r1.EpochLoss[0]) {
		t.Fatalf("loss did not fall: %v", r1.EpochLoss)
	}
	if r1.SamplesPerSec <= 0 || r1.TrainSeconds <= 0 {
		t.Fatalf("speed not measured: %+v", r1)
	}
	p2, _ := run(1)
	if !slices.Equal(p1, p2) {
		t.Fatal("same seeds gave different weights")
	}
	p3, _ := run(2)
	if slices.Equal(p1, p3) {
		t.Fatal("a different shuffling seed gave identical weights")
	}
}

func TestFitBinary(t *testing.T) {
	tr, te := blobs(400, 4, 2, 3), blobs(200, 4, 2, 4)
	m := build(t, mlpSpec(4, 8, 1), 1)
	res, err := Fit(context.Background(), m, tr, te, Config{Epochs: 5, BatchSize: 16, Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 0.1, Momentum: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Test.Accuracy < 0.95 {
		t.Fatalf("binary accuracy %v, want >= 0.95", res.Test.Accuracy)
	}
}

func TestFitProgressAndCancel(t *testing.T) {
	tr := blobs(100, 4, 2, 1)
	m := build(t, mlpSpec(4, 4, 2), 1)
	var calls, last int
	cfg := Config{Epochs: 2, BatchSize: 30, Progress: func(p Progress) {
		calls++
		if p.Samples <= last || p.Steps != 4 || p.TotalSamples != 200 || p.Epochs != 2 {
			t.Errorf("bad progress %+v after %d samples", p, last)
		}
		last = p.Samples
	}}
	if _, err := Fit(context.Background(), m, tr, nil, cfg); err != nil {
		t.Fatal(err)
	}
	if calls != 8 || last != 200 {
		t.Fatalf("%d progress calls ending at %d samples, want 8 and 200", calls, last)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cfg.Progress = func(p Progress) {
		if p.Step == 2 {
			cancel()
		}
	}
	res, err := Fit(ctx, m, tr, nil, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res == nil || res.Steps != 2 {
		t.Fatalf("cancelled result %+v, want 2 steps", res)
	}
}

func TestFitDiverges(t *testing.T) {
	tr := blobs(64, 4, 2, 1)
	for i := range tr.X {
		tr.X[i] *= 1e30
	}
	m := build(t, mlpSpec(4, 4, 2), 1)
	_, err := Fit(context.Background(), m, tr, nil, Config{Epochs: 3, Optimizer: nn.OptimizerConfig{Name: "sgd", LR: 1e10}})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v, want ErrDiverged", err)
	}
}

func TestConfigAndDataErrors(t *testing.T) {
	good := blobs(10, 4, 2, 1)
	wrongWidth := blobs(10, 5, 2, 1)
	badLabel := blobs(10, 4, 2, 1)
	badLabel.Y[3] = 7
	m := build(t, mlpSpec(4, 4, 2), 1)
	cases := []struct {
		name string
		d    *data.Dataset
		cfg  Config
		want string
	}{
		{"negative epochs", good, Config{Epochs: -1}, "epochs"},
		{"negative batch", good, Config{BatchSize: -2}, "batch"},
		{"negative lr", good, Config{Optimizer: nn.OptimizerConfig{LR: -1}}, "learning rate"},
		{"unknown optimizer", good, Config{Optimizer: nn.OptimizerConfig{Name: "rmsprop"}}, "optimizer"},
		{"empty", &data.Dataset{}, Config{}, "empty"},
		{"wrong width", wrongWidth, Config{}, "values per sample"},
		{"label out of range", badLabel, Config{}, "label 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Fit(context.Background(), m, c.d, nil, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestCountCorrect(t *testing.T) {
	if got := CountCorrect([]float32{0.3, -2, 0, 5}, []float32{1, 0, 1, 1}, 4, 1); got != 3 {
		t.Errorf("binary: %d correct, want 3 (logit 0 is class 0)", got)
	}
	if got := CountCorrect([]float32{1, 2, 0, 3, 1, 0}, []float32{1, 1}, 2, 3); got != 1 {
		t.Errorf("multi-class: %d correct, want 1", got)
	}
}

// TestStepAllocatesNothing checks that a steady
// training step (gather, forward, backward, Adam) makes no allocation.
func TestStepAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	specs := map[string]nn.Spec{
		"mlp": mlpSpec(784, 128, 10),
		"lstm": {Input: []int{20}, Layers: []nn.LayerSpec{
			{Type: "embedding", Vocab: 50, Dim: 8}, {Type: "lstm", Units: 16}, {Type: "dense", Units: 1}}},
		"cnn": {Input: []int{1, 12, 12}, Layers: []nn.LayerSpec{
			{Type: "conv2d", Filters: 4, Kernel: 3, Pad: 1, Activation: "relu"}, {Type: "maxpool2d", Pool: 2},
			{Type: "flatten"}, {Type: "dropout", Rate: 0.2}, {Type: "dense", Units: 3}}},
	}
	for name, s := range specs {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(t *testing.T) {
				setThreads(threads)
				defer setThreads(1)
				m := build(t, s, 1)
				d := syntheticFor(m, 256)
				tr, err := NewTrainer(m, d, Config{BatchSize: 32})
				if err != nil {
					t.Fatal(err)
				}
				step := 0
				allocs := testing.AllocsPerRun(50, func() {
					tr.Step(step % tr.Steps())
					step++
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per step, want 0", allocs)
				}
			})
		}
	}
}

// TestStepThreadsAgree trains the mlp for a few steps with one, two and
// three threads from the same seed: the gathered batches must be identical
// (the split gather copies the same floats) and the parameters equal up to
// the float32 rounding of reordered sums.
func TestStepThreadsAgree(t *testing.T) {
	defer setThreads(1)
	run := func(threads int) (x []float32, params []float32) {
		setThreads(threads)
		m := build(t, mlpSpec(784, 128, 10), 1)
		tr, err := NewTrainer(m, syntheticFor(m, 640), Config{BatchSize: 64, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			tr.Step(i)
			x = append(x, tr.x...)
			x = append(x, tr.y...)
		}
		return x, m.Params()
	}
	x1, p1 := run(1)
	for _, threads := range []int{2, 3} {
		xn, pn := run(threads)
		if !slices.Equal(x1, xn) {
			t.Fatalf("%d threads gathered other batches than one thread", threads)
		}
		for i := range p1 {
			if d := math.Abs(float64(p1[i] - pn[i])); d > 1e-4 {
				t.Fatalf("param %d after 10 steps: %v with one thread, %v with %d", i, p1[i], pn[i], threads)
			}
		}
	}
}

// syntheticFor returns n random samples that fit m: token ids for an
// embedding model, values in [0,1) otherwise; labels valid for its output.
func syntheticFor(m *nn.Model, n int) *data.Dataset {
	r := rand.New(rand.NewPCG(5, 5))
	in := m.InputSize()
	classes := max(m.OutputSize(), 2)
	s := m.Spec()
	vocab := 0
	if s.Layers[0].Type == "embedding" {
		vocab = s.Layers[0].Vocab
	}
	d := &data.Dataset{X: make([]float32, n*in), Y: make([]float32, n), N: n, SampleShape: []int{in}, Labels: DigitLabels(classes)}
	for i := range d.X {
		if vocab > 0 {
			d.X[i] = float32(r.IntN(vocab))
		} else {
			d.X[i] = r.Float32()
		}
	}
	for i := range d.Y {
		d.Y[i] = float32(r.IntN(classes))
	}
	return d
}

// BenchmarkStep measures one steady-state training step of the MNIST mlp
// (batch 64, Adam): ns/op is the step time, allocs/op must be 0.
func BenchmarkStep(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec nn.Spec
		bs   int
	}{
		{"mlp-784-128-10-b64", mlpSpec(784, 128, 10), 64},
		{"lstm-v10000-e32-h32-len50-b32", nn.Spec{Input: []int{50}, Layers: []nn.LayerSpec{
			{Type: "embedding", Vocab: 10000, Dim: 32}, {Type: "lstm", Units: 32}, {Type: "dense", Units: 1}}}, 32},
	} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", bc.name, threads), func(b *testing.B) {
				setThreads(threads)
				defer setThreads(1)
				m := build(b, bc.spec, 1)
				tr, err := NewTrainer(m, syntheticFor(m, 1024), Config{BatchSize: bc.bs})
				if err != nil {
					b.Fatal(err)
				}
				tr.Step(0)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					tr.Step(i % tr.Steps())
				}
				b.ReportMetric(float64(b.N*bc.bs)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrepareText(t *testing.T) {
	p := writeFile(t, "d.tsv", "label\ttext\nham\tHello there friend\nspam\tWIN cash now\nham\thello again\nham\tsee you soon\nspam\tfree cash prize\n")
	prep, err := PrepareData(DataOptions{Path: p, Holdout: 0.4, MaxLen: 4})
	if err != nil {
		t.Fatal(err)
	}
	if prep.Kind != KindText || prep.Train.N != 3 || prep.Test.N != 2 {
		t.Fatalf("kind %s, %d train, %d test rows; want text, 3, 2", prep.Kind, prep.Train.N, prep.Test.N)
	}
	if !slices.Equal(prep.Labels, []string{"ham", "spam"}) {
		t.Fatalf("labels %v", prep.Labels)
	}
	if !slices.Equal(prep.Train.Y, []float32{0, 1, 0}) || !slices.Equal(prep.Test.Y, []float32{0, 1}) {
		t.Fatalf("y %v / %v", prep.Train.Y, prep.Test.Y)
	}
	v := prep.Encoder.Vocab
	// "hello" occurs twice in the training rows, so it gets the first id;
	// "prize" and "soon" occur only in test rows and are out of vocabulary.
	if v.ID("hello") != 2 || v.ID("prize") != 1 || v.ID("soon") != 1 {
		t.Fatalf("ids hello=%d prize=%d soon=%d; want 2, 1 (oov), 1", v.ID("hello"), v.ID("prize"), v.ID("soon"))
	}
	if got := prep.Train.X[:4]; got[0] != 2 || got[3] != 0 {
		t.Fatalf("first row ids %v, want hello first and post-padding", got)
	}
	o := prep.PresetOptions()
	if o.Vocab != DefaultVocab || o.MaxLen != 4 || o.Classes != 2 {
		t.Fatalf("preset options %+v", o)
	}
	m, err := BuildModel("lstm-text", prep, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.InputSize() != 4 || m.OutputSize() != 1 {
		t.Fatalf("model in %d out %d", m.InputSize(), m.OutputSize())
	}
	ev, err := LoadEvalData(p, KindText, 0.4, prep.Labels, prep.Encoder)
	if err != nil {
		t.Fatal(err)
	}
	if ev.N != 2 || !slices.Equal(ev.X, prep.Test.X) {
		t.Fatalf("eval data differs from the hold-out: %d rows", ev.N)
	}
}

func TestPrepareErrors(t *testing.T) {
	dir := t.TempDir()
	one := writeFile(t, "one.tsv", "a\tx\na\ty\n")
	two := writeFile(t, "two.tsv", "a\tx\nb\ty\n")
	spec := writeFile(t, "spec.json", `{"input":[3],"layers":[{"type":"dense","units":2}]}`)
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"no path", func() error { _, err := PrepareData(DataOptions{}); return err }, "--data"},
		{"missing", func() error { _, err := PrepareData(DataOptions{Path: filepath.Join(dir, "nope.tsv")}); return err }, "no such file"},
		{"bad folder", func() error { _, err := PrepareData(DataOptions{Path: dir}); return err }, "mnist"},
		{"one label", func() error { _, err := PrepareData(DataOptions{Path: one, Holdout: 0}); return err }, "two distinct labels"},
		{"holdout 1", func() error { _, err := PrepareData(DataOptions{Path: two, Holdout: 1}); return err }, "--holdout"},
		{"holdout leaves no training rows", func() error { _, err := PrepareData(DataOptions{Path: two, Holdout: 0.6}); return err }, "cannot be split"},
		{"max len", func() error { _, err := PrepareData(DataOptions{Path: two, MaxLen: -3}); return err }, "--max-len"},
		{"unknown model", func() error {
			p, err := PrepareData(DataOptions{Path: two, Holdout: 0})
			if err != nil {
				return err
			}
			_, err = BuildModel(filepath.Join(dir, "nosuch"), p, 1)
			return err
		}, "not a preset"},
		{"spec does not fit", func() error {
			p, err := PrepareData(DataOptions{Path: two, Holdout: 0, MaxLen: 5})
			if err != nil {
				return err
			}
			_, err = BuildModel(spec, p, 1)
			return err
		}, "takes 3 values per sample, the data has 5"},
		{"embedding smaller than vocabulary", func() error {
			p, err := PrepareData(DataOptions{Path: two, Holdout: 0, MaxLen: 3})
			if err != nil {
				return err
			}
			small := writeFile(t, "small.yaml", "input: [3]\nlayers:\n- {type: embedding, vocab: 3, dim: 2}\n- {type: lstm, units: 2}\n- {type: dense, units: 1}\n")
			_, err = BuildModel(small, p, 1)
			return err
		}, "embedding has 3 rows, the vocabulary 4 ids"},
		{"eval unknown label", func() error {
			p, err := PrepareData(DataOptions{Path: two, Holdout: 0})
			if err != nil {
				return err
			}
			_, err = LoadEvalData(one, KindText, 0, []string{"b", "c"}, p.Encoder)
			return err
		}, `label "a"`},
		{"eval text on image model", func() error { _, err := LoadEvalData(two, KindImage, 0, nil, nil); return err }, "text file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// The accuracy targets of the engine, on the real data sets. Slow: skipped
// with -short and under -race, and when the data is not there.

func mnistDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("trains on MNIST: skipped with -short")
	}
	if raceEnabled {
		t.Skip("trains on MNIST: too slow under -race; run without -race")
	}
	return datatest.MNIST(t)
}

func smsFile(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("trains on SMS spam: skipped with -short")
	}
	if raceEnabled {
		t.Skip("trains on SMS spam: too slow under -race; run without -race")
	}
	return datatest.SMS(t)
}

func trainPreset(t *testing.T, preset string, o DataOptions, epochs int) *Result {
	t.Helper()
	prep, err := PrepareData(o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildModel(preset, prep, 1)
	if err != nil {
		t.Fatal(err)
	}
	batch := 64
	if prep.Kind == KindText {
		batch = 32
	}
	def := DefaultsFor(preset) // zeros: the general defaults
	if def.Batch > 0 {
		batch = def.Batch
	}
	cfg := Config{Epochs: epochs, BatchSize: batch, Seed: 1}
	cfg.Optimizer.LR = def.LR
	res, err := Fit(context.Background(), m, prep.Train, prep.Test, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d epochs, test accuracy %.4f, loss %.4f, %.0f samples/s", preset, epochs, res.Test.Accuracy, res.Test.Loss, res.SamplesPerSec)
	if math.IsNaN(res.Test.Loss) {
		t.Fatal("test loss is NaN")
	}
	return res
}

func TestMNISTMLPAccuracy(t *testing.T) {
	res := trainPreset(t, "mlp", DataOptions{Path: mnistDir(t)}, 3)
	if res.Test.Accuracy < 0.970 {
		t.Fatalf("mlp after 3 epochs: test accuracy %.4f, want >= 0.970", res.Test.Accuracy)
	}
}

func TestMNISTCNNAccuracy(t *testing.T) {
	res := trainPreset(t, "cnn", DataOptions{Path: mnistDir(t)}, 2)
	if res.Test.Accuracy < 0.985 {
		t.Fatalf("cnn after 2 epochs: test accuracy %.4f, want >= 0.985", res.Test.Accuracy)
	}
}

func TestSMSLSTMAccuracy(t *testing.T) {
	res := trainPreset(t, "lstm-text", DataOptions{Path: smsFile(t), Holdout: 0.2}, 3)
	if res.Test.Samples != 1115 {
		t.Fatalf("%d test rows, want 1115 (the last 20%% of 5,574)", res.Test.Samples)
	}
	if res.Test.Accuracy < 0.970 {
		t.Fatalf("lstm-text after 3 epochs: test accuracy %.4f, want >= 0.970", res.Test.Accuracy)
	}
}
