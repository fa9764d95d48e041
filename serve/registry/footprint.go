package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/nn"
)

// A memory budget (Options.MemBudget, `shoal up --mem-budget` on an edge
// peer) is kept by weighing each version before it is loaded, from its
// file's header alone: loading a model to find out it does not fit would
// already have broken the budget. The weight is an estimate whose
// coefficients were measured (BENCHMARKS.md, edge section; TestFootprint
// holds the estimate above the heap a load and a full batch really take,
// and within 3× of it):
//
//   - File: the file's bytes. modelfile.Read holds the whole file while
//     the weights are copied out of it, so a load peaks at File plus the
//     rest; once loaded, the file's bytes are garbage.
//   - Weights: 2× every float32 tensor (a float model keeps a gradient
//     beside each parameter) and 2.25× every int8 tensor (an int8 model
//     keeps its weights as stored and the kernel's packed copy, padded,
//     with column sums); F16 tensors load as float32. Measured: 2.02× for
//     float mlp and cnn, 2.08–2.16× for their int8 forms.
//   - Activations: one forward pass of MaxBatchSize inputs, whose buffers
//     the layers keep: 4 bytes × batch × (twice the input, for the
//     request's values and the batch's concatenation, plus the spec's
//     per-sample activations of an inference pass, nn.Spec.Footprint's
//     Inference), × 5/4 (the float cnn's pass measured 1.18× what shape
//     inference counts, with training's im2col columns). An int8 model's
//     activations count a byte each: its conv layers hold codes, and the
//     fused conv+pool keeps one image's columns (cnn int8 measured 1.3 MB
//     against 10.4 MB when counted as floats).
//   - Meta: 5× the JSON header (labels, and a text model's vocabulary,
//     whose map and strings measured ~5× their JSON).
//
// File size alone would undercount twice over (a float model holds 2× its
// file once loaded, a cnn's batch of 32 is ten times its weights), and
// weighing the loaded model after the fact comes too late.

// Footprint is the memory one model version is estimated to take.
type Footprint struct {
	File        int64 // held while the load runs
	Weights     int64
	Activations int64 // one pass of a full batch
	Meta        int64
	// Int8 says the file holds int8 weights.
	Int8 bool
}

// Resident is what the version holds once loaded and used.
func (f Footprint) Resident() int64 { return f.Weights + f.Activations + f.Meta }

// Peak is what loading it takes at most: the file and the loaded model.
func (f Footprint) Peak() int64 { return f.File + f.Resident() }

// String names the parts, for refusals.
func (f Footprint) String() string {
	return fmt.Sprintf("file %s, then %s resident: weights %s, activations %s, metadata %s",
		size(f.File), size(f.Resident()), size(f.Weights), size(f.Activations), size(f.Meta))
}

func size(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// FileFootprint weighs the model file at path (see the comment above),
// for forward passes of up to maxBatch inputs, reading its header only.
func FileFootprint(path string, maxBatch int) (Footprint, error) {
	h, err := modelfile.ReadHeader(path, modelfile.Limits{})
	if err != nil {
		return Footprint{}, err
	}
	return HeaderFootprint(h, maxBatch)
}

// HeaderFootprint weighs a model file from its header.
func HeaderFootprint(h *modelfile.Header, maxBatch int) (Footprint, error) {
	sj, ok := h.Meta[artifact.MetaSpec]
	if !ok {
		return Footprint{}, errors.New("not a shoal model: no spec in its metadata")
	}
	spec, err := nn.ParseSpec([]byte(sj))
	if err != nil {
		return Footprint{}, err
	}
	sf, err := spec.Footprint()
	if err != nil {
		return Footprint{}, err
	}
	f := Footprint{File: h.FileBytes, Meta: 5 * h.HeaderBytes}
	_, f.Int8 = h.Meta[artifact.MetaQuant]
	for _, t := range h.Tensors {
		switch t.DType {
		case modelfile.DTypeI8:
			f.Weights += t.Bytes * 9 / 4
		case modelfile.DTypeF16:
			f.Weights += 2 * 2 * t.Bytes
		default:
			f.Weights += 2 * t.Bytes
		}
	}
	in := 1
	for _, d := range spec.Input {
		in *= d
	}
	// An int8 model's layers keep codes, not floats, for most of what
	// shape inference counts (the conv's output and, fused, its pool), so
	// its per-sample activations weigh a byte each; the request's values
	// stay float32 either way. An inference pass keeps no per-sample
	// im2col columns (nn.Footprint.Inference).
	perActivation := int64(4)
	if f.Int8 {
		perActivation = 1
	}
	f.Activations = int64(max(maxBatch, 1)) * (4*2*int64(in) + perActivation*int64(sf.Inference)) * 5 / 4
	return f, nil
}

// ErrOverBudget is wrapped by every refusal of a model that would not fit
// the memory budget (a *BudgetError says by how much).
var ErrOverBudget = errors.New("over the memory budget")

// BudgetError is a refusal to load (or pull) a model that would not fit.
type BudgetError struct {
	Model   string
	Version int // 0: not in the store yet (a pull)
	// Need is the model's footprint; Extra, when not 0, what its use
	// needs beyond Peak (quantizing a float model here adds its int8
	// copy), and Doing says what that use is.
	Need  Footprint
	Extra int64
	Doing string
	// Budget and Used are the budget and what the loaded models take
	// (Loaded names them).
	Budget, Used int64
	Loaded       []string
}

func (e *BudgetError) Error() string {
	what := e.Model
	if e.Version > 0 {
		what = fmt.Sprintf("%s version %d", e.Model, e.Version)
	}
	doing := e.Doing
	if doing == "" {
		doing = "loading it"
	}
	form := "float32"
	if e.Need.Int8 {
		form = "int8"
	}
	used := "nothing is loaded"
	if e.Used > 0 {
		used = fmt.Sprintf("%s is already used by %s", size(e.Used), strings.Join(e.Loaded, ", "))
	}
	need := fmt.Sprintf("%s needs %s", doing, size(e.Need.Peak()+e.Extra))
	if e.Extra > 0 {
		need += fmt.Sprintf(" (%s more for the int8 copy)", size(e.Extra))
	}
	return fmt.Sprintf("%s (%s) does not fit the memory budget: %s (%s); the budget is %s and %s, leaving %s",
		what, form, need, e.Need, size(e.Budget), used, size(max(e.Budget-e.Used, 0)))
}

func (e *BudgetError) Unwrap() error { return ErrOverBudget }

// reserve weighs version v of name before its load and, under a budget,
// reserves its Peak (the caller gives it back once the load is over) or
// refuses it with a *BudgetError. Without a budget it weighs nothing.
func (r *Registry) reserve(name string, v int, path string) (Footprint, error) {
	if r.opt.MemBudget <= 0 {
		return Footprint{}, nil
	}
	fp, err := FileFootprint(path, r.opt.MaxBatchSize)
	if err != nil {
		return fp, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.fitsLocked(name, v, fp, 0, ""); err != nil {
		return fp, err
	}
	r.reserved += fp.Peak()
	return fp, nil
}

// fitsLocked says whether need (plus extra) fits beside what is loaded
// and being loaded. Caller holds r.mu.
func (r *Registry) fitsLocked(name string, v int, need Footprint, extra int64, doing string) error {
	used, loaded := r.usedLocked()
	if used+need.Peak()+extra <= r.opt.MemBudget {
		return nil
	}
	return &BudgetError{Model: name, Version: v, Need: need, Extra: extra, Doing: doing,
		Budget: r.opt.MemBudget, Used: used, Loaded: loaded}
}

// usedLocked sums the resident footprints of the loaded versions and the
// reservations of loads in progress, and names them. Caller holds r.mu.
func (r *Registry) usedLocked() (int64, []string) {
	used := r.reserved
	var names []string
	for _, name := range slices.Sorted(maps.Keys(r.models)) {
		st := r.models[name]
		for _, v := range sortedVersions(st.versions) {
			if m := st.versions[v].m; m != nil {
				used += m.fp.Resident()
				names = append(names, fmt.Sprintf("%s version %d (%s)", name, v, size(m.fp.Resident())))
			}
		}
	}
	if r.reserved > 0 {
		names = append(names, fmt.Sprintf("loads in progress (%s)", size(r.reserved)))
	}
	return used, names
}

// MemoryUse reports the budget (0: none) and what the loaded versions and
// the loads in progress take of it.
func (r *Registry) MemoryUse() (budget, used int64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	used, _ = r.usedLocked()
	return r.opt.MemBudget, used
}

// CheckBudget says whether a model of footprint need, plus extra bytes
// for what its use needs beside (doing says what: "quantizing it here"),
// would fit the budget now, with an error wrapping ErrOverBudget when it
// would not. It reserves nothing: the load itself is checked again. nil
// without a budget.
func (r *Registry) CheckBudget(name string, need Footprint, extra int64, doing string) error {
	if r.opt.MemBudget <= 0 {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.fitsLocked(name, 0, need, extra, doing)
}

// MaxBatchSize is the most inputs of one forward pass, what footprints
// are weighed for.
func (r *Registry) MaxBatchSize() int { return r.opt.MaxBatchSize }
