package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/par"
)

// Defaults used where a Config field is zero.
const (
	DefaultEpochs    = 1
	DefaultBatch     = 64
	DefaultLR        = 1e-3
	DefaultEvalBatch = 1000
)

// Config says how to train. Zero fields take the defaults above; the zero
// Optimizer is Adam with learning rate 1e-3.
type Config struct {
	Epochs    int
	BatchSize int
	Optimizer nn.OptimizerConfig
	// Seed drives the shuffling of every epoch and the dropout masks, so
	// one seed (with the model's init seed) makes a run reproducible.
	Seed uint64
	// Threads, when > 0, sets the process-wide number of GEMM threads
	// before training starts (gemm.SetThreads).
	Threads int
	// EvalBatch is the batch size of evaluation (inference only).
	EvalBatch int
	// Progress, when set, is called after every step on the training
	// goroutine. It must not block for long and must not keep the
	// Progress value's slices (it has none today).
	Progress func(Progress)
}

// Progress describes a run after one step.
type Progress struct {
	Epoch, Epochs int // 1-based epoch
	Step, Steps   int // 1-based step within the epoch, steps per epoch
	Samples       int // samples trained so far in the run
	TotalSamples  int // samples the whole run will train
	Loss          float64
	EpochLoss     float64 // mean loss of the epoch so far
	Elapsed       time.Duration
}

// Metrics are the results of evaluating a model on a dataset.
type Metrics struct {
	Accuracy float64 `json:"accuracy"`
	Loss     float64 `json:"loss"`
	Samples  int     `json:"samples"`
	// Confusion[i][j] counts samples of class i predicted as j, and
	// Classes the precision, recall and F1 of each class, for models of
	// at most MaxReportClasses classes (nil beyond).
	Confusion [][]int      `json:"confusion,omitempty"`
	Classes   []ClassScore `json:"classes,omitempty"`
}

// ClassScore is one class's precision, recall and F1 on a dataset
// (0 where undefined: nothing predicted as, or nothing of, the class).
type ClassScore struct {
	Label     string  `json:"label"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // samples of the class
}

// MaxReportClasses bounds the per-class report: a confusion matrix of
// thousands of classes is neither readable nor small.
const MaxReportClasses = 64

// Result sums up a call to Fit.
type Result struct {
	Epochs        int       `json:"epochs"`
	Steps         int       `json:"steps"`
	Samples       int       `json:"samples"`
	TrainSeconds  float64   `json:"train_seconds"`
	SamplesPerSec float64   `json:"samples_per_sec"`
	EpochLoss     []float64 `json:"epoch_loss"`
	// Test holds the evaluation on the test set; nil when Fit had none.
	Test *Metrics `json:"test,omitempty"`
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.Epochs == 0 {
		c.Epochs = DefaultEpochs
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatch
	}
	if c.Optimizer.Name == "" {
		c.Optimizer.Name = "adam"
	}
	if c.Optimizer.LR == 0 {
		c.Optimizer.LR = DefaultLR
	}
	if c.EvalBatch == 0 {
		c.EvalBatch = DefaultEvalBatch
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Epochs < 0:
		return fmt.Errorf("epochs must be positive, got %d", c.Epochs)
	case c.BatchSize < 0:
		return fmt.Errorf("batch size must be positive, got %d", c.BatchSize)
	case c.EvalBatch < 0:
		return fmt.Errorf("eval batch size must be positive, got %d", c.EvalBatch)
	case c.Threads < 0:
		return fmt.Errorf("threads must be positive, got %d", c.Threads)
	case c.Optimizer.LR < 0 || math.IsNaN(c.Optimizer.LR) || math.IsInf(c.Optimizer.LR, 0):
		return fmt.Errorf("learning rate must be a positive number, got %g", c.Optimizer.LR)
	}
	return nil
}

// checkDataset reports whether d can feed m.
func checkDataset(m *nn.Model, d *data.Dataset, what string) error {
	if d == nil || d.N == 0 {
		return fmt.Errorf("%s set is empty", what)
	}
	in := m.InputSize()
	if len(d.X) < d.N*in {
		return fmt.Errorf("%s set: model takes %d values per sample, data has %d samples of %d values",
			what, in, d.N, len(d.X)/max(d.N, 1))
	}
	if len(d.Y) < d.N {
		return fmt.Errorf("%s set: %d samples but %d labels", what, d.N, len(d.Y))
	}
	if len(d.X) != d.N*in {
		return fmt.Errorf("%s set: model takes %d values per sample, data has %d values per sample",
			what, in, len(d.X)/d.N)
	}
	if ss := d.SampleSize(); ss != in {
		return fmt.Errorf("%s set: model takes %d values per sample, data's sample shape %v holds %d",
			what, in, d.SampleShape, ss)
	}
	k := m.OutputSize()
	classes := max(k, 2) // one logit means two classes
	for i, y := range d.Y[:d.N] {
		if y != float32(int(y)) || y < 0 || int(y) >= classes {
			return fmt.Errorf("%s set: sample %d has label %g, model has %d classes", what, i, y, classes)
		}
	}
	return nil
}

// Trainer trains a model on one dataset in mini-batches. All buffers are
// allocated by NewTrainer; Step allocates nothing for full batches once the
// model's own buffers are warm.
type Trainer struct {
	model *nn.Model
	opt   nn.Optimizer
	data  *data.Dataset
	batch int
	in    int
	perm  []int
	x, y  []float32
	rng   *rand.Rand

	gather gatherSplit // a batch gather split by samples (--threads > 1)
}

// NewTrainer prepares to train m on d with cfg's batch size, optimizer and
// seed. The first epoch's order is shuffled already.
func NewTrainer(m *nn.Model, d *data.Dataset, cfg Config) (*Trainer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := checkDataset(m, d, "training"); err != nil {
		return nil, err
	}
	opt, err := nn.NewOptimizer(cfg.Optimizer, m.NumParams())
	if err != nil {
		return nil, fmt.Errorf("optimizer: %w", err)
	}
	b := min(cfg.BatchSize, d.N)
	in := m.InputSize()
	t := &Trainer{
		model: m,
		opt:   opt,
		data:  d,
		batch: b,
		in:    in,
		perm:  make([]int, d.N),
		x:     make([]float32, b*in),
		y:     make([]float32, b),
		// The second PCG word is a fixed odd constant so seed 0 is fine.
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
	}
	for i := range t.perm {
		t.perm[i] = i
	}
	m.SetSeed(cfg.Seed)
	t.Shuffle()
	return t, nil
}

// Model returns the model being trained.
func (t *Trainer) Model() *nn.Model { return t.model }

// Optimizer returns the optimizer, whose state lives as long as the Trainer.
func (t *Trainer) Optimizer() nn.Optimizer { return t.opt }

// BatchSize returns the size of a full batch.
func (t *Trainer) BatchSize() int { return t.batch }

// Steps returns the number of steps in one epoch (the last batch may be
// short).
func (t *Trainer) Steps() int { return (t.data.N + t.batch - 1) / t.batch }

// Shuffle draws a new order of the samples (Fisher–Yates, from the seed).
func (t *Trainer) Shuffle() {
	p := t.perm
	for i := len(p) - 1; i > 0; i-- {
		j := t.rng.IntN(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

// Step trains on batch i (0 ≤ i < Steps) of the current order: gather,
// forward, backward, optimizer step. It returns the batch's mean loss and
// its size.
func (t *Trainer) Step(i int) (loss float32, n int) {
	lo := i * t.batch
	hi := min(lo+t.batch, t.data.N)
	n = hi - lo
	x, y := t.x[:n*t.in], t.y[:n]
	idx := t.perm[lo:hi]
	if parts := min(par.Threads(), n/16); parts > 1 && n*t.in >= minSplitGather {
		t.gather = gatherSplit{d: t.data, idx: idx, x: x, y: y}
		par.Do(parts, &t.gather)
		t.gather = gatherSplit{}
	} else {
		t.data.Batch(idx, x, y) // checkDataset made SampleSize() == t.in
	}
	loss = t.model.TrainBatch(x, y, n)
	t.opt.Step(t.model.Params(), t.model.Grads())
	return loss, n
}

// ErrDiverged is returned when the training loss stops being a number.
var ErrDiverged = errors.New("training diverged: the loss is not a number (try a lower --lr)")

// Fit trains m on trainSet for cfg.Epochs epochs and then evaluates it on
// testSet (when not nil). It stops early, returning ctx.Err(), when ctx is
// done; the model keeps the weights of the last step taken.
func Fit(ctx context.Context, m *nn.Model, trainSet, testSet *data.Dataset, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if testSet != nil {
		if err := checkDataset(m, testSet, "test"); err != nil {
			return nil, err
		}
	}
	if cfg.Threads > 0 {
		setThreads(cfg.Threads)
	}
	t, err := NewTrainer(m, trainSet, cfg)
	if err != nil {
		return nil, err
	}
	res := &Result{Epochs: cfg.Epochs, EpochLoss: make([]float64, 0, cfg.Epochs)}
	steps := t.Steps()
	p := Progress{Epochs: cfg.Epochs, Steps: steps, TotalSamples: cfg.Epochs * trainSet.N}
	start := time.Now()
	for e := 1; e <= cfg.Epochs; e++ {
		if e > 1 {
			t.Shuffle()
		}
		var sum float64
		var seen int
		for s := 0; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				res.finish(start)
				return res, err
			}
			loss, n := t.Step(s)
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				res.finish(start)
				return res, ErrDiverged
			}
			sum += float64(loss) * float64(n)
			seen += n
			res.Steps++
			res.Samples += n
			if cfg.Progress != nil {
				p.Epoch, p.Step, p.Samples = e, s+1, res.Samples
				p.Loss, p.EpochLoss = float64(loss), sum/float64(seen)
				p.Elapsed = time.Since(start)
				cfg.Progress(p)
			}
		}
		res.EpochLoss = append(res.EpochLoss, sum/float64(seen))
	}
	res.finish(start)
	if testSet != nil {
		mt, err := Evaluate(m, testSet, cfg.EvalBatch)
		if err != nil {
			return res, err
		}
		res.Test = &mt
	}
	return res, nil
}

func (r *Result) finish(start time.Time) {
	r.TrainSeconds = time.Since(start).Seconds()
	if r.TrainSeconds > 0 {
		r.SamplesPerSec = float64(r.Samples) / r.TrainSeconds
	}
}

// Evaluate runs m over d in batches of at most batch samples (inference
// mode) and returns its accuracy and mean loss. One output means a binary
// model (logit > 0 is class 1); k outputs mean the arg-max class.
func Evaluate(m *nn.Model, d *data.Dataset, batch int) (Metrics, error) {
	if err := checkDataset(m, d, "evaluation"); err != nil {
		return Metrics{}, err
	}
	if batch <= 0 {
		batch = DefaultEvalBatch
	}
	in, k := m.InputSize(), m.OutputSize()
	classes := max(k, 2)
	var conf [][]int
	if classes <= MaxReportClasses {
		conf = make([][]int, classes)
		for i := range conf {
			conf[i] = make([]int, classes)
		}
	}
	var lossSum float64
	correct := 0
	for lo := 0; lo < d.N; lo += batch {
		n := min(batch, d.N-lo)
		x := d.X[lo*in : (lo+n)*in]
		y := d.Y[lo : lo+n]
		logits := m.Forward(x, n)
		lossSum += float64(m.Loss(logits, y, n)) * float64(n)
		correct += CountCorrect(logits, y, n, k)
		if conf != nil {
			for i := 0; i < n; i++ {
				if c := int(y[i]); c >= 0 && c < classes && float32(c) == y[i] {
					conf[c][Argmax(logits[i*k:(i+1)*k])]++
				}
			}
		}
	}
	mt := Metrics{
		Accuracy: float64(correct) / float64(d.N),
		Loss:     lossSum / float64(d.N),
		Samples:  d.N,
	}
	if conf != nil {
		mt.Confusion, mt.Classes = conf, classScores(conf, d.Labels)
	}
	return mt, nil
}

// classScores derives each class's precision, recall and F1 from a
// confusion matrix; labels name the classes (their index where absent).
func classScores(conf [][]int, labels []string) []ClassScore {
	out := make([]ClassScore, len(conf))
	for c := range conf {
		tp, actual, predicted := conf[c][c], 0, 0
		for j := range conf {
			actual += conf[c][j]
			predicted += conf[j][c]
		}
		s := ClassScore{Label: strconv.Itoa(c), Support: actual}
		if c < len(labels) {
			s.Label = labels[c]
		}
		if predicted > 0 {
			s.Precision = float64(tp) / float64(predicted)
		}
		if actual > 0 {
			s.Recall = float64(tp) / float64(actual)
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		out[c] = s
	}
	return out
}

// CountCorrect counts the rows of logits (n rows of k) whose predicted class
// equals y: logit > 0 for k == 1, the arg-max otherwise.
func CountCorrect(logits, y []float32, n, k int) int {
	c := 0
	for i := 0; i < n; i++ {
		if Argmax(logits[i*k:(i+1)*k]) == int(y[i]) {
			c++
		}
	}
	return c
}

// Argmax returns the predicted class of one row of logits: for a single
// logit, 1 when it is positive and 0 otherwise.
func Argmax(row []float32) int {
	if len(row) == 1 {
		if row[0] > 0 {
			return 1
		}
		return 0
	}
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}
