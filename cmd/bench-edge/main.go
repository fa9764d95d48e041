// Command bench-edge measures int8 inference against float32 on one
// thread: shoal's int8 and float32 forms of the MNIST mlp and cnn at batch
// 1 and 64, side by side, and ONNX Runtime float32 on the same networks
// when it is installed (../shared/peers/README.md). The last line of its
// output is one JSON object with every (model, batch) speed ratio and the
// minimum of each kind. make bench-edge runs it.
//
// Timings alternate between the forms in short rounds and keep each
// form's best round, so that a neighbour's load on a shared core slows
// both alike instead of skewing one of them.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/qgemm"
)

func main() {
	var (
		models  = flag.String("models", "", "folder with trained mlp.safetensors and cnn.safetensors (default: random weights; speed does not depend on them)")
		rounds  = flag.Int("rounds", 7, "alternating rounds per form")
		round   = flag.Duration("round", 150*time.Millisecond, "length of one round")
		ortDir  = flag.String("ort", "", "node_modules folder holding onnxruntime-node (empty: no ONNX Runtime column)")
		onnxDir = flag.String("onnx", "", "folder with mlp.onnx and cnn.onnx from ../shared/peers/onnx_export.py")
		ortRef  = flag.String("ort-ref", "../shared/peers/ort_ref.js", "ONNX Runtime timing script")
	)
	flag.Parse()
	gemm.SetThreads(1)
	fmt.Printf("int8 kernel: %s; one thread; best of %d alternating rounds of %v\n", qgemm.Kernel(), *rounds, *round)
	ort := newORT(*ortDir, *onnxDir, *ortRef)
	if ort.note != "" {
		fmt.Println("ONNX Runtime:", ort.note)
	}
	res := map[string]any{}
	minF, minO := 0.0, 0.0
	fmt.Printf("%-5s %5s %12s %12s %12s %10s %10s\n", "model", "batch", "float32 µs", "int8 µs", "ORT f32 µs", "int8/f32", "int8/ORT")
	for _, name := range []string{"mlp", "cnn"} {
		fm, err := loadOrBuild(*models, name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-edge:", err)
			os.Exit(1)
		}
		qm, err := fm.Quantize(nn.QuantizeOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-edge:", err)
			os.Exit(1)
		}
		for _, b := range []int{1, 64} {
			x := inputs(fm.InputSize(), b)
			tf, tq := timePair(fm, qm, x, b, *rounds, *round)
			r := map[string]float64{"float32_us": us(tf), "int8_us": us(tq), "int8_vs_float32": ratio(tf, tq)}
			ortCol, ortRatio := "-", "-"
			if t, ok := ort.time(name, b); ok {
				r["ort_float32_us"] = t
				r["int8_vs_ort"] = t / us(tq)
				ortCol, ortRatio = fmt.Sprintf("%.1f", t), fmt.Sprintf("%.2f", r["int8_vs_ort"])
				if minO == 0 || r["int8_vs_ort"] < minO {
					minO = r["int8_vs_ort"]
				}
			}
			if minF == 0 || r["int8_vs_float32"] < minF {
				minF = r["int8_vs_float32"]
			}
			res[fmt.Sprintf("%s_b%d", name, b)] = r
			fmt.Printf("%-5s %5d %12.1f %12.1f %12s %10.2f %10s\n", name, b, us(tf), us(tq), ortCol, r["int8_vs_float32"], ortRatio)
		}
	}
	res["kernel"] = qgemm.Kernel()
	res["min_int8_vs_float32"] = minF
	if minO > 0 {
		res["min_int8_vs_ort"] = minO
	} else {
		res["ort"] = ort.note
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

// loadOrBuild loads DIR/NAME.safetensors, or builds the preset with
// random weights when dir is empty.
func loadOrBuild(dir, name string) (*nn.Model, error) {
	if dir != "" {
		a, err := artifact.Load(filepath.Join(dir, name+".safetensors"))
		if err != nil {
			return nil, err
		}
		return a.Model, nil
	}
	s, err := nn.Preset(name, nn.PresetOptions{})
	if err != nil {
		return nil, err
	}
	return nn.Build(s, 1)
}

// inputs are MNIST-like: pixels in [0, 1], a fifth of them dark.
func inputs(size, n int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, size*n)
	for i := range x {
		if r.IntN(5) == 0 {
			x[i] = r.Float32()
		}
	}
	return x
}

// timePair returns the best time per forward pass of each model over
// rounds alternating between them.
func timePair(fm, qm *nn.Model, x []float32, b, rounds int, d time.Duration) (tf, tq time.Duration) {
	tf, tq = time.Hour, time.Hour
	fm.Forward(x, b)
	qm.Forward(x, b)
	for r := 0; r < rounds; r++ {
		tf = min(tf, timeOne(fm, x, b, d))
		tq = min(tq, timeOne(qm, x, b, d))
	}
	return tf, tq
}

func timeOne(m *nn.Model, x []float32, b int, d time.Duration) time.Duration {
	n := 0
	t0 := time.Now()
	for time.Since(t0) < d {
		m.Forward(x, b)
		n++
	}
	return time.Since(t0) / time.Duration(n)
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func ratio(slow, fast time.Duration) float64 { return float64(slow) / float64(fast) }
