package train

import (
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/par"
)

// setThreads sets the process-wide number of threads (the one knob of
// parallelism in the engine: every Dense, Conv2D and LSTM product, the
// optimizer step and the batch gather split their work by it).
func setThreads(n int) { gemm.SetThreads(n) }

// minSplitGather is the smallest batch, in floats, whose gather is split:
// below it the copy takes a few microseconds.
const minSplitGather = 1 << 14

// gatherSplit copies one batch's features, part i taking the features
// par.Range gives it.
type gatherSplit struct {
	d   *data.Dataset
	idx []int
	x   []float32
}

func (g *gatherSplit) RunPart(i, n int) {
	lo, hi := par.Range(i, n, g.d.SampleSize())
	g.d.BatchFeatures(g.idx, g.x, lo, hi)
}
