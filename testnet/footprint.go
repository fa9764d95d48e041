package testnet

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Footprint is what a testnet's peers cost this process while idle: CPU
// time and resident memory over a quiet window after the join, divided
// by the live peers. All peers share the process, so the figures are the
// process's own (getrusage, /proc/self/status) and include the testnet's
// bookkeeping, which is small beside a hundred libp2p hosts.
type Footprint struct {
	Peers  int           `json:"peers"`
	Window time.Duration `json:"window_ns"`
	// CPUPercentPerPeer is the process's user+system CPU time over the
	// window, as a percentage of one core, divided by Peers.
	CPUPercentPerPeer float64 `json:"cpu_percent_per_peer"`
	// RSSBytes is the process's resident set at the end of the window
	// (VmRSS), RSSBytesPerPeer that divided by Peers; 0 where the system
	// does not say.
	RSSBytes        uint64 `json:"rss_bytes"`
	RSSBytesPerPeer uint64 `json:"rss_bytes_per_peer"`
	Goroutines      int    `json:"goroutines"`
}

// String is the footprint on one line, for logs and the command's stderr.
func (f Footprint) String() string {
	return fmt.Sprintf("idle over %v: %.2f%% of a core and %.1f MB resident per peer (%d peers, %d goroutines)",
		f.Window.Round(time.Millisecond), f.CPUPercentPerPeer, float64(f.RSSBytesPerPeer)/(1<<20), f.Peers, f.Goroutines)
}

// minIdleWindow is the shortest window AutoIdleWindow picks: shorter ones
// catch too few heartbeats to average over.
const minIdleWindow = 5 * time.Second

// AutoIdleWindow is the window MeasureIdle should use on this net: two of
// the longest heartbeat interval any live peer uses now (the interval
// grows with the mesh, mesh.Node.HeartbeatEvery), at least 5 s, so every
// peer publishes at least once within it.
func (net *Net) AutoIdleWindow() time.Duration {
	w := minIdleWindow
	for _, i := range net.Live() {
		if n := net.Node(i); n != nil {
			w = max(w, 2*n.HeartbeatEvery())
		}
	}
	return w
}

// MeasureIdle measures the net's footprint over window (the caller makes
// sure nothing else runs meanwhile: no job, no fault). It returns early,
// with ctx's error, if ctx ends.
func (net *Net) MeasureIdle(ctx context.Context, window time.Duration) (Footprint, error) {
	if window <= 0 {
		return Footprint{}, fmt.Errorf("testnet: idle window %v", window)
	}
	cpu0, t0 := ProcessCPU(), time.Now()
	t := time.NewTimer(window)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Footprint{}, ctx.Err()
	case <-t.C:
	}
	elapsed := time.Since(t0)
	f := Footprint{Peers: len(net.Live()), Window: elapsed, RSSBytes: processRSS(), Goroutines: runtime.NumGoroutine()}
	if f.Peers == 0 {
		return f, nil
	}
	f.CPUPercentPerPeer = float64(ProcessCPU()-cpu0) / float64(elapsed) * 100 / float64(f.Peers)
	f.RSSBytesPerPeer = f.RSSBytes / uint64(f.Peers)
	return f, nil
}

// processRSS is this process's resident set size (VmRSS in
// /proc/self/status), 0 where that file does not exist.
func processRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
