package testnet

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// listedPairs counts, over the live nodes, the peers each lists, and the
// connections each holds.
func listedPairs(net *Net) (listed, conns int) {
	for _, i := range net.Live() {
		if n := net.Node(i); n != nil {
			listed += len(n.Peers())
			conns += len(n.Host().Network().Peers())
		}
	}
	return listed, conns
}

// TestScaleJoin starts a mesh past the size where the mesh changes its
// ways (heartbeats slower than the configured interval, mesh cadenceFrom,
// 24 peers), checks that every peer lists all the others within a bound
// (scaleJoinBound) and logs the join's progress, its CPU time and the idle
// footprint per peer. It runs only when asked, SHOAL_SCALE_PEERS=N (32 is
// the size meant for go test; 100 is the and takes minutes on 2
// cores), and never under -short or the race detector: it is about timing,
// and on a machine loaded by other work the join of even 32 peers in one
// process was seen to stall (pings time out, peers are dropped as
// unresponsive and come back only heartbeats later).
//
//	SHOAL_SCALE_PEERS=32 go test -count=1 -run TestScaleJoin -v ./testnet
func TestScaleJoin(t *testing.T) {
	s := os.Getenv("SHOAL_SCALE_PEERS")
	if s == "" || testing.Short() || raceEnabled {
		t.Skip("set SHOAL_SCALE_PEERS=32 (not under -short or -race) to run this timing test")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 2 {
		t.Fatalf("SHOAL_SCALE_PEERS=%q", s)
	}
	start, cpu0 := time.Now(), ProcessCPU()
	net, err := Start(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	t.Logf("%d nodes started in %v", n, time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), JoinTimeout(n))
	defer cancel()
	// Progress once a second, for the log of a slow join.
	done := make(chan struct{})
	go func() {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				l, c := listedPairs(net)
				t.Logf("%5.1fs: %d of %d listings, %d connection ends, %.1f CPU s", time.Since(start).Seconds(), l, n*(n-1), c, (ProcessCPU() - cpu0).Seconds())
			}
		}
	}()
	err = net.WaitFor(ctx, (*Net).Converged)
	close(done)
	if err != nil {
		t.Fatalf("not every peer lists all the others after %v: %v\n%s", time.Since(start), err, net.Describe())
	}
	join, joinCPU := time.Since(start), ProcessCPU()-cpu0
	t.Logf("every peer lists all %d others %v after the start (%.1f CPU s)", n-1, join, joinCPU.Seconds())
	if limit := bound(scaleJoinBound(n)); join > limit {
		t.Errorf("join took %v, bound %v", join, limit)
	}
	fp, err := net.MeasureIdle(context.Background(), net.AutoIdleWindow())
	if err != nil {
		t.Fatal(err)
	}
	t.Log(fp)
	_, c := listedPairs(net)
	t.Logf("%d connection ends (%.1f per peer), heartbeat every %v", c, float64(c)/float64(n), net.Node(0).HeartbeatEvery())
}

// scaleJoinBound is the join bound of TestScaleJoin: 10 s up to 64 peers
// (32 joined in 1-6 s here, depending on the load), 150 ms more per peer
// beyond.
func scaleJoinBound(n int) time.Duration {
	return max(10*time.Second, time.Duration(n)*150*time.Millisecond)
}
