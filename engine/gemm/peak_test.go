//go:build linux

package gemm

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// processCPU is the CPU time of all the process's threads. Timing with it
// instead of the wall clock leaves out the slices other processes took on a
// shared core, and still counts the goroutines gonum's Sgemm starts, so the
// figures are flops per CPU-second of work.
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return time.Duration(ts.Nano())
}

// bestGFLOPS runs f repeatedly for about 5 rounds of 20 ms CPU time and
// returns the best round's rate. The clock is read once per batch of
// calls lasting about 100 µs, not after every call: reading the process
// CPU clock is a system call (about 0.5 µs here), which counted after
// each 1.5 µs product of the mlp's n = 10 layer made it read 70 GFLOP/s
// when it ran at 107.
func bestGFLOPS(s shape, f func()) float64 {
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	f()
	reps := 1
	for t0 := time.Now(); ; reps *= 2 {
		for range reps {
			f()
		}
		if time.Since(t0) > 200*time.Microsecond {
			break
		}
	}
	reps = max(1, reps/2)
	best := 0.0
	for range 5 {
		n := 0
		t0 := processCPU()
		var d time.Duration
		for d < 20*time.Millisecond {
			for range reps {
				f()
			}
			n += reps
			d = processCPU() - t0
		}
		best = max(best, flops*float64(n)/d.Seconds()/1e9)
	}
	return best
}

func runner(s shape, impl func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) func() {
	g := gcase{transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k}
	g.lda, g.ldb, g.ldc = s.k, s.n, s.n
	if s.transA {
		g.lda = s.m
	}
	if s.transB {
		g.ldb = s.k
	}
	a, b, c := operands(g)
	fill(a, b) // gonum skips zero elements of A: zeros would flatter it
	return func() { impl(s.transA, s.transB, s.m, s.n, s.k, 1, a, g.lda, b, g.ldb, 0, c, g.ldc) }
}

// TestTune prints thread-CPU GFLOP/s of every packing policy per shape; set
// SHOAL_GEMM_TUNE=1 to run it.
func TestTune(t *testing.T) {
	if os.Getenv("SHOAL_GEMM_TUNE") == "" {
		t.Skip("set SHOAL_GEMM_TUNE=1 to print the packing-policy table")
	}
	sa, sb, st := packAStride, packBStride, minReuseTiles
	defer func() { packAStride, packBStride, minReuseTiles = sa, sb, st }()
	minReuseTiles = 0
	for _, s := range append(squareShapes(), trainingShapes...) {
		line := fmt.Sprintf("%-26s", s.name)
		for _, pol := range []struct {
			name   string
			pa, pb int
		}{{"direct", 1 << 62, 1 << 62}, {"packA", 0, 1 << 62}, {"packB", 1 << 62, 0}, {"packAB", 0, 0}, {"default", sa, sb}} {
			packAStride, packBStride, minReuseTiles = pol.pa, pol.pb, 0
			if pol.name == "default" {
				minReuseTiles = st
			}
			line += fmt.Sprintf(" %s=%5.1f", pol.name, bestGFLOPS(s, runner(s, Sgemm)))
		}
		t.Log(line)
	}
}

// cpuMHz reads the first "cpu MHz" of /proc/cpuinfo (under a hypervisor this
// is the nominal clock; turbo can run faster).
func cpuMHz() (float64, error) {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no cpu MHz line in /proc/cpuinfo")
}

// bestWallGFLOPS is bestGFLOPS by the wall clock, for multi-threaded runs.
func bestWallGFLOPS(s shape, f func()) float64 {
	flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
	f()
	best := 0.0
	for range 5 {
		n := 0
		t0 := time.Now()
		for time.Since(t0) < 20*time.Millisecond {
			f()
			n++
		}
		best = max(best, flops*float64(n)/time.Since(t0).Seconds()/1e9)
	}
	return best
}

// TestPeak prints the machine's float32 peak and, per shape, the GFLOP/s of
// Sgemm and gonum's Sgemm on one thread and Sgemm's scaling to 2 threads.
// Set SHOAL_GEMM_PEAK=1 to run it (about a minute).
func TestPeak(t *testing.T) {
	if os.Getenv("SHOAL_GEMM_PEAK") == "" {
		t.Skip("set SHOAL_GEMM_PEAK=1 to print the GFLOP/s report")
	}
	mhz, err := cpuMHz()
	if err != nil {
		t.Fatal(err)
	}
	cores := runtime.NumCPU()
	// The widest FMA the core runs sets the peak: 16 float32 lanes with
	// AVX-512, else 8 (AVX2); two FMA ports, 2 flops (multiply and add)
	// each. Dividing an AVX-512 kernel by the AVX2 peak would report a
	// product at 64% of the core's peak as 130%.
	lanes, isa := 8, "AVX2"
	if haveAVX512 {
		lanes, isa = 16, "AVX-512"
	}
	nominal := mhz * 1e6 * 2 * float64(lanes) * 2 / 1e9
	t.Logf("nominal float32 peak (%s): %d cores × %.0f MHz × 2 FMA ports × %d lanes × 2 flops = %.1f GFLOP/s (%.1f per core)",
		isa, cores, mhz, lanes, float64(cores)*nominal, nominal)
	measured := 0.0
	if haveFMAPeak {
		const iters = 100000
		m256 := bestGFLOPS(shape{m: 1, n: 96, k: iters}, func() { fmaPeak(iters) })
		t.Logf("measured AVX2 FMA-loop peak, one core: %.1f GFLOP/s (%.2f GHz effective)", m256, m256/32)
		measured = m256
	}
	if haveFMAPeak && haveAVX512 {
		const iters = 50000
		measured = bestGFLOPS(shape{m: 1, n: 192, k: iters}, func() { fmaPeak512(iters) })
		t.Logf("measured AVX-512 FMA-loop peak, one core: %.1f GFLOP/s (%.2f GHz effective)", measured, measured/64)
	}
	t.Logf("%%nominal and %%measured below are against the %s figures", isa)
	t.Logf("kernel: avx2=%v avx512=%v (column tiles0: AVX-512 without the generated R×32/R×16 tiles; avx2: AVX-512 off); GFLOP/s per CPU-second of this process (other processes' slices excluded; gonum may use several goroutines), best of 5×20 ms", useAVX2, useAVX512)
	t.Logf("%-26s %8s %8s %8s %8s %7s %8s %8s", "shape", "shoal", "tiles0", "avx2", "gonum", "ratio", "%nominal", "%measured")
	for _, s := range append(squareShapes(), trainingShapes...) {
		ours := bestGFLOPS(s, runner(s, Sgemm))
		savedBcst := useBcst
		useBcst = false
		tiles0 := bestGFLOPS(s, runner(s, Sgemm))
		useBcst = savedBcst
		saved := useAVX512
		useAVX512 = false
		avx2 := bestGFLOPS(s, runner(s, Sgemm))
		useAVX512 = saved
		theirs := bestGFLOPS(s, runner(s, gonumSgemm))
		pm := 0.0
		if measured > 0 {
			pm = 100 * ours / measured
		}
		t.Logf("%-26s %8.1f %8.1f %8.1f %8.1f %6.1fx %7.0f%% %8.0f%%", s.name, ours, tiles0, avx2, theirs, ours/theirs, 100*ours/nominal, pm)
	}
	saved := Threads()
	defer SetThreads(saved)
	t.Logf("threads: GFLOP/s by the wall clock (meaningless while other processes share the cores)")
	t.Logf("%-26s %8s %8s %7s", "shape", "1 thr", "2 thr", "speedup")
	for _, s := range append(squareShapes()[2:], trainingShapes[0], trainingShapes[2], trainingShapes[6], trainingShapes[13], trainingShapes[15]) {
		SetThreads(1)
		one := bestWallGFLOPS(s, runner(s, Sgemm))
		SetThreads(2)
		two := bestWallGFLOPS(s, runner(s, Sgemm))
		t.Logf("%-26s %8.1f %8.1f %6.2fx", s.name, one, two, two/one)
	}
}
