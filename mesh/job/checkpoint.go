package job

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/shoalmesh/shoal/engine/modelfile"
)

// Checkpoints hold the parameters and the step, so a restarted peer resumes
// where it was (its optimizer state starts afresh).
func (r *runner) checkpointPath() string {
	dir := r.m.jobDir(r.spec.ID)
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "checkpoint.safetensors")
}

func (r *runner) saveCheckpoint(step int) {
	path := r.checkpointPath()
	if path == "" {
		return
	}
	r.av.Lock()
	t := modelfile.F32Tensor("params", []int{r.model.NumParams()}, slices.Clone(r.model.Params()))
	r.av.Unlock()
	meta := map[string]string{"job": r.spec.ID, "step": strconv.Itoa(step), "steps_total": strconv.Itoa(r.stepsTotal)}
	if _, err := modelfile.Write(path, []modelfile.Tensor{t}, meta); err != nil {
		r.log.Warn("checkpoint not saved", "err", err)
	}
}

func (r *runner) loadCheckpoint() int {
	path := r.checkpointPath()
	if path == "" {
		return 0
	}
	f, err := modelfile.Read(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			r.log.Warn("checkpoint unreadable; starting the job afresh", "err", err)
		}
		return 0
	}
	step, err1 := strconv.Atoi(f.Meta["step"])
	total, err2 := strconv.Atoi(f.Meta["steps_total"])
	if len(f.Tensors) != 1 || f.Meta["job"] != r.spec.ID || err1 != nil || err2 != nil {
		r.log.Warn("checkpoint of another job or malformed; starting afresh")
		return 0
	}
	v, err := f.Tensors[0].Float32s()
	if err != nil || len(v) != r.model.NumParams() {
		r.log.Warn("checkpoint does not fit the model; starting afresh")
		return 0
	}
	// The averager has joined already and may be serving an exchange.
	r.av.Lock()
	copy(r.model.Params(), v)
	r.av.Unlock()
	r.stepsTotal = total
	r.log.Info("resumed from checkpoint", "step", step, "of", total)
	return step
}
