package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/nn"
)

// measurePeak is one core's float32 FMA rate in GFLOP/s by the wall clock:
// the best of 5 rounds of about 20 ms of the widest FMA loop the core runs
// (engine/gemm's TestPeak loop). The core's clock drops under load and
// heat, so bench-engine measures it around every shoal run and divides by
// the figure of the same run. 0 where there is no loop.
func measurePeak() (gflops float64, isa string) {
	loop, flops, isa := gemm.PeakLoop()
	if loop == nil {
		return 0, ""
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const iters = 50000
	loop(iters)
	best := 0.0
	for range 5 {
		n := 0
		t0 := time.Now()
		for time.Since(t0) < 20*time.Millisecond {
			loop(iters)
			n++
		}
		best = max(best, flops*iters*float64(n)/time.Since(t0).Seconds()/1e9)
	}
	return best, isa
}

// trainFLOPs counts the multiply-adds (2 flops each) of one training sample
// through the dense and conv2d layers of s, the count issue 14 uses (mlp
// ≈ 0.41 MFLOP, cnn ≈ 7 MFLOP): the forward product, the weight-gradient
// product, and the input-gradient product of every such layer but the
// first (no layer needs the gradient of the data). Bias adds, activations,
// pooling, the loss and the optimizer are left out: they are the overheads
// the figure is meant to show. ok is false for a layer it cannot count
// (an LSTM's work depends on the texts' lengths).
func trainFLOPs(s nn.Spec) (forward, train float64, ok bool) {
	shape := append([]int(nil), s.Input...)
	first := true
	for _, l := range s.Layers {
		var macs float64
		switch l.Type {
		case "dense":
			in := 1
			for _, d := range shape {
				in *= d
			}
			macs = float64(in) * float64(l.Units)
			shape = []int{l.Units}
		case "conv2d":
			if len(shape) != 3 {
				return 0, 0, false
			}
			stride := max(l.Stride, 1)
			h := (shape[1]+2*l.Pad-l.Kernel)/stride + 1
			w := (shape[2]+2*l.Pad-l.Kernel)/stride + 1
			macs = float64(h*w*l.Filters) * float64(shape[0]*l.Kernel*l.Kernel)
			shape = []int{l.Filters, h, w}
		case "maxpool2d":
			if len(shape) != 3 {
				return 0, 0, false
			}
			shape = []int{shape[0], shape[1] / l.Pool, shape[2] / l.Pool}
			continue
		case "flatten", "dropout":
			continue
		default:
			return 0, 0, false
		}
		forward += 2 * macs
		train += 4 * macs
		if !first {
			train += 2 * macs
		}
		first = false
	}
	return forward, train, true
}

// presetFLOPs is trainFLOPs of a shoal preset with 10 classes (the MNIST
// tasks); ok is false for presets it cannot count.
func presetFLOPs(preset string) (forward, train float64, ok bool) {
	s, err := nn.Preset(preset, nn.PresetOptions{Classes: 10})
	if err != nil {
		return 0, 0, false
	}
	return trainFLOPs(s)
}

// pctOfPeak formats a rate against a peak, or "-" when either is unknown.
func pctOfPeak(gflops, peak float64) string {
	if gflops <= 0 || peak <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*gflops/peak)
}
