package ortpeer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Install is where the set-up of the peer is described.
const Install = "../shared/peers/README.md"

// Runner times ONNX files with ort_ref.js, or says why it cannot.
type Runner struct {
	node, script, nodePath string
	// Note is why ONNX Runtime cannot run here ("" when it can).
	Note string
}

// New checks that node, the onnxruntime-node package under nodePath (a
// node_modules folder) and the timing script exist.
func New(nodePath, script string) *Runner {
	r := &Runner{nodePath: nodePath, script: script}
	node, err := exec.LookPath("node")
	switch {
	case nodePath == "":
		r.Note = "no node_modules folder with onnxruntime-node given (ORT_NODE_MODULES); install it as " + Install + " says"
	case err != nil:
		r.Note = "node is not on PATH; see " + Install
	default:
		if _, err := os.Stat(filepath.Join(nodePath, "onnxruntime-node")); err != nil {
			r.Note = "onnxruntime-node is not installed in " + nodePath + "; install it as " + Install + " says"
		} else if _, err := os.Stat(script); err != nil {
			r.Note = script + " not found; see " + Install
		}
	}
	r.node = node
	return r
}

// Result is ort_ref.js's figure for one batch size.
type Result struct {
	USPerBatch float64 `json:"us_per_batch"`
	// CPUPerWall is about 1.0 when ONNX Runtime really used one core.
	CPUPerWall float64 `json:"cpu_seconds_per_wall_second"`
}

// Job is one ort_ref.js call: an ONNX file, its per-sample input shape
// ("784", "1,28,28", "50") and whether the input is int64 token ids.
type Job struct {
	File    string
	Shape   string
	Int64   bool
	Batches []int
	Threads int
	Seconds float64 // timing per batch size, after the warm-up
}

// Time runs ort_ref.js once and returns its figures by batch size.
func (r *Runner) Time(j Job) (map[int]Result, error) {
	if r.Note != "" {
		return nil, fmt.Errorf("ONNX Runtime not available: %s", r.Note)
	}
	bs := make([]string, len(j.Batches))
	for i, b := range j.Batches {
		bs[i] = strconv.Itoa(b)
	}
	args := []string{r.script, j.File, "--shape", j.Shape, "--batch", strings.Join(bs, ","),
		"--threads", strconv.Itoa(max(1, j.Threads))}
	if j.Seconds > 0 {
		args = append(args, "--seconds", strconv.FormatFloat(j.Seconds, 'f', -1, 64))
	}
	if j.Int64 {
		args = append(args, "--int64")
	}
	cmd := exec.Command(r.node, args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+r.nodePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ort_ref.js on %s: %v: %s", j.File, err, strings.TrimSpace(stderr.String()))
	}
	return parse(out), nil
}

// parse reads ort_ref.js's JSON lines; other lines are skipped.
func parse(out []byte) map[int]Result {
	res := map[int]Result{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l struct {
			Batch int `json:"batch"`
			Result
		}
		if json.Unmarshal(bytes.TrimSpace(sc.Bytes()), &l) == nil && l.Batch > 0 && l.USPerBatch > 0 {
			res[l.Batch] = l.Result
		}
	}
	return res
}

// Export runs onnx_export.py with python into dir, which then holds
// mlp.onnx, cnn.onnx and lstm-text.onnx.
func Export(python, script, dir string) error {
	cmd := exec.Command(python, script, dir)
	// OpenBLAS tuning variables set for other programs break torch's import
	// on some machines (see ../shared/peers/README.md).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENBLAS_CORETYPE=") && !strings.HasPrefix(kv, "OPENBLAS_L2_SIZE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", python, script, err, strings.TrimSpace(string(out)))
	}
	for _, n := range []string{"mlp", "cnn", "lstm-text"} {
		if _, err := os.Stat(filepath.Join(dir, n+".onnx")); err != nil {
			return fmt.Errorf("%s did not write %s.onnx", script, n)
		}
	}
	return nil
}
