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

// gatherSplit copies one batch, part i taking the samples par.Range gives
// it. By samples rather than by feature: whole rows copy faster (measured:
// two goroutines gathering 32 whole MNIST rows each took 48 µs where two
// gathering half of every row took 66), and the gather waits on main
// memory, not on the other core.
type gatherSplit struct {
	d    *data.Dataset
	idx  []int
	x, y []float32
}

func (g *gatherSplit) RunPart(i, n int) {
	lo, hi := par.Range(i, n, len(g.idx))
	ss := g.d.SampleSize()
	g.d.Batch(g.idx[lo:hi], g.x[lo*ss:hi*ss], g.y[lo:hi])
}
