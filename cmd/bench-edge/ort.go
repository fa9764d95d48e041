package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoalmesh/shoal/cmd/internal/ortpeer"
)

// ortRunner times ONNX Runtime through ortpeer once per network and keeps
// the figures, or says why it cannot.
type ortRunner struct {
	peer  *ortpeer.Runner
	onnx  string
	note  string // why there is no ORT column ("" when there is one)
	cache map[string]map[int]float64
}

func newORT(nodePath, onnxDir, script string) *ortRunner {
	o := &ortRunner{peer: ortpeer.New(nodePath, script), onnx: onnxDir, cache: map[string]map[int]float64{}}
	switch {
	case onnxDir == "":
		o.note = "not measured: give -onnx (onnx_export.py's folder); see " + ortpeer.Install
	case o.peer.Note != "":
		o.note = "not measured: " + o.peer.Note
	}
	return o
}

// time returns ORT's µs per batch for the network and batch size.
func (o *ortRunner) time(name string, batch int) (float64, bool) {
	if o.note != "" {
		return 0, false
	}
	if _, ok := o.cache[name]; !ok {
		o.cache[name] = o.run(name)
	}
	t, ok := o.cache[name][batch]
	return t, ok
}

func (o *ortRunner) run(name string) map[int]float64 {
	shape := map[string]string{"mlp": "784", "cnn": "1,28,28"}[name]
	figs, err := o.peer.Time(ortpeer.Job{File: filepath.Join(o.onnx, name+".onnx"), Shape: shape, Batches: []int{1, 64}, Threads: 1})
	res := map[int]float64{}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-edge: ONNX Runtime on %s: %v\n", name, err)
		return res
	}
	for b, r := range figs {
		res[b] = r.USPerBatch
	}
	return res
}
