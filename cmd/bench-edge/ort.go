package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ortRunner times ONNX Runtime through ort_ref.js, or says why it cannot.
type ortRunner struct {
	node, script, nodePath, onnx string
	note                         string // why there is no ORT column ("" when there is one)
	cache                        map[string]map[int]float64
}

func newORT(nodePath, onnxDir, script string) *ortRunner {
	o := &ortRunner{nodePath: nodePath, onnx: onnxDir, script: script, cache: map[string]map[int]float64{}}
	node, err := exec.LookPath("node")
	switch {
	case nodePath == "" || onnxDir == "":
		o.note = "not measured: give -ort (onnxruntime-node's node_modules) and -onnx (onnx_export.py's folder); see ../shared/peers/README.md"
	case err != nil:
		o.note = "not measured: node is not on PATH"
	default:
		if _, err := os.Stat(filepath.Join(nodePath, "onnxruntime-node")); err != nil {
			o.note = "not measured: onnxruntime-node is not installed in " + nodePath
		} else if _, err := os.Stat(script); err != nil {
			o.note = "not measured: " + script + " not found"
		}
	}
	o.node = node
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
	cmd := exec.Command(o.node, o.script, filepath.Join(o.onnx, name+".onnx"), "--shape", shape, "--batch", "1,64")
	cmd.Env = append(os.Environ(), "NODE_PATH="+o.nodePath)
	out, err := cmd.Output()
	res := map[int]float64{}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-edge: ONNX Runtime on %s: %v\n", name, err)
		return res
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r struct {
			Batch int     `json:"batch"`
			US    float64 `json:"us_per_batch"`
		}
		if line := strings.TrimSpace(sc.Text()); json.Unmarshal([]byte(line), &r) == nil && r.Batch > 0 {
			res[r.Batch] = r.US
		}
	}
	return res
}
