// Command bench-infer compares shoal's float32 inference with ONNX Runtime
// (../shared/peers/ort_ref.js, MLAS kernels) on the reference networks of
// ../shared/peers/onnx_export.py: the MNIST mlp and cnn and the lstm-text
// classifier on full-length 50-token texts, at batch 1, 64 and 256, one
// thread each. Both sides run the same architectures with random weights
// (speed does not depend on them); shoal's side is Model.Forward, the path
// serving uses. It prints each ratio (shoal speed / ONNX Runtime speed)
// and, last, one JSON object with every ratio and min_ratio. make
// bench-infer runs it.
//
// The ONNX files go to a temporary folder. Rounds alternate between the
// two peers, network by network, and each keeps its best round, so that a
// neighbour's load on a shared core slows both alike. Each side's CPU
// time per batch is printed too (ONNX Runtime's from ort_ref.js's CPU
// seconds per wall second, shoal's from getrusage), with its ratio as
// NAME_bN_cpu in the JSON: on a loaded machine the wall-clock ratio
// mostly measures who was scheduled out. Without node or
// onnxruntime-node it says so, names the set-up notes and exits 0.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/cmd/internal/ortpeer"
	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/nn"
)

// network is one reference network on both sides.
type network struct {
	name   string // preset and ONNX file name
	shape  string // ort_ref.js --shape: one sample
	tokens bool   // input is token ids (int64 for ONNX Runtime)
}

var networks = []network{
	{"mlp", "784", false},
	{"cnn", "1,28,28", false},
	{"lstm-text", "50", true},
}

const (
	vocab  = 10000 // onnx_export.py's lstm-text embedding
	maxLen = 50
)

func main() {
	var (
		python  = flag.String("python", "/usr/bin/python3", "Python with torch, for onnx_export.py")
		export  = flag.String("onnx-export", "../shared/peers/onnx_export.py", "script that writes the ONNX files")
		ortRef  = flag.String("ort-ref", "../shared/peers/ort_ref.js", "ONNX Runtime timing script")
		ortDir  = flag.String("ort", os.Getenv("ORT_NODE_MODULES"), "node_modules folder holding onnxruntime-node (default $ORT_NODE_MODULES)")
		rounds  = flag.Int("rounds", 3, "alternating rounds per network")
		seconds = flag.Float64("seconds", 0.5, "timing per batch size and round, each side")
		batches = flag.String("batch", "1,64,256", "batch sizes")
		only    = flag.String("networks", "mlp,cnn,lstm-text", "networks to run")
	)
	flag.Parse()
	bs, err := parseInts(*batches)
	if err != nil {
		fail(err)
	}
	ort := ortpeer.New(*ortDir, *ortRef)
	if ort.Note != "" {
		skip("ONNX Runtime is not available: " + ort.Note)
	}
	dir, err := os.MkdirTemp("", "shoal-bench-infer-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	if err := ortpeer.Export(*python, *export, dir); err != nil {
		os.RemoveAll(dir)
		skip("could not write the ONNX files (needs torch, see " + ortpeer.Install + "): " + err.Error())
	}
	gemm.SetThreads(1)
	fmt.Printf("one thread each; best of %d alternating rounds of %.2f s per batch size; load %s\n", *rounds, *seconds, loadAvg())
	fmt.Printf("%-10s %5s %12s %12s %8s %14s %12s %9s\n", "network", "batch", "shoal µs", "ORT µs", "ratio", "shoal cpu µs", "ORT cpu µs", "cpu ratio")
	res := map[string]any{}
	minRatio := 0.0
	for _, nw := range networks {
		if !strings.Contains(","+*only+",", ","+nw.name+",") {
			continue
		}
		m, err := build(nw)
		if err != nil {
			fail(err)
		}
		ours, oursCPU := map[int]time.Duration{}, map[int]time.Duration{}
		theirs, theirsCPU := map[int]ortpeer.Result{}, map[int]float64{}
		job := ortpeer.Job{File: filepath.Join(dir, nw.name+".onnx"), Shape: nw.shape, Int64: nw.tokens, Batches: bs, Threads: 1, Seconds: *seconds}
		xs := map[int][]float32{}
		for _, b := range bs {
			xs[b] = inputs(nw, m.InputSize(), b)
		}
		for range *rounds {
			got, err := ort.Time(job)
			if err != nil {
				fail(err)
			}
			for b, r := range got {
				if old, ok := theirs[b]; !ok || r.USPerBatch < old.USPerBatch {
					theirs[b] = r
				}
				if old, ok := theirsCPU[b]; !ok || r.USPerBatch*r.CPUPerWall < old {
					theirsCPU[b] = r.USPerBatch * r.CPUPerWall
				}
			}
			for _, b := range bs {
				t, cpu := timeForward(m, xs[b], b, time.Duration(*seconds*float64(time.Second)))
				if old, ok := ours[b]; !ok || t < old {
					ours[b] = t
				}
				if old, ok := oursCPU[b]; !ok || cpu < old {
					oursCPU[b] = cpu
				}
			}
		}
		for _, b := range bs {
			o, ok := theirs[b]
			if !ok {
				fail(fmt.Errorf("ort_ref.js printed no figure for %s at batch %d", nw.name, b))
			}
			us := float64(ours[b].Nanoseconds()) / 1e3
			ratio := o.USPerBatch / us
			cpuUS, ortCPU := float64(oursCPU[b].Nanoseconds())/1e3, theirsCPU[b]
			note := ""
			if o.CPUPerWall > 1.3 {
				note = fmt.Sprintf("  (ONNX Runtime used %.1f CPU-seconds per second: more than one thread)", o.CPUPerWall)
			}
			fmt.Printf("%-10s %5d %12.1f %12.1f %8.2f %14.1f %12.1f %9.2f%s\n", nw.name, b, us, o.USPerBatch, ratio, cpuUS, ortCPU, ortCPU/cpuUS, note)
			res[fmt.Sprintf("%s_b%d", nw.name, b)] = round3(ratio)
			res[fmt.Sprintf("%s_b%d_cpu", nw.name, b)] = round3(ortCPU / cpuUS)
			if minRatio == 0 || ratio < minRatio {
				minRatio = ratio
			}
		}
	}
	res["min_ratio"] = round3(minRatio)
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// build makes the shoal network that onnx_export.py exports.
func build(nw network) (*nn.Model, error) {
	s, err := nn.Preset(nw.name, nn.PresetOptions{Vocab: vocab, MaxLen: maxLen})
	if err != nil {
		return nil, err
	}
	return nn.Build(s, 1)
}

// inputs are MNIST-like pixels (in [0, 1], a fifth of them dark) or, for
// a text network, token ids 1..vocab-1 with no padding: every text runs
// all maxLen steps, as ONNX Runtime's graph does.
func inputs(nw network, size, n int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, size*n)
	for i := range x {
		switch {
		case nw.tokens:
			x[i] = float32(1 + r.IntN(vocab-1))
		case r.IntN(5) == 0:
			x[i] = r.Float32()
		}
	}
	return x
}

// timeForward is the mean wall and CPU time of one Forward call over d.
func timeForward(m *nn.Model, x []float32, b int, d time.Duration) (wall, cpu time.Duration) {
	for range 3 {
		m.Forward(x, b) // warm-up: buffers, caches
	}
	n := 0
	t0, c0 := time.Now(), cpuTime()
	for time.Since(t0) < d {
		m.Forward(x, b)
		n++
	}
	return time.Since(t0) / time.Duration(n), (cpuTime() - c0) / time.Duration(n)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var v int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || v < 1 {
			return nil, fmt.Errorf("bad batch size %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// skip reports why nothing was measured, with a JSON last line, and exits 0.
func skip(why string) {
	fmt.Println("bench-infer: skipped:", why)
	out, _ := json.Marshal(map[string]string{"skipped": why})
	fmt.Println(string(out))
	os.Exit(0)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-infer:", err)
	os.Exit(1)
}
