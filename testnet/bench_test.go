package testnet

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkMesh20 starts a 20-peer testnet per iteration and reports: the
// time from Start until every peer lists the other 19 (join_s), the time
// until every peer has dropped a killed one (dead_s), memory per idle peer
// after 5 s idle: rss_MB/peer is the process's RSS growth over the first
// iteration (later ones reuse memory the runtime kept, so only the first
// counts), heap_MB/peer the Go heap+stacks in use after a GC, averaged;
// and CPU per idle peer (cpu_%/peer over that idle window).
// Run: go test -run='^$' -bench=Mesh20 -benchtime=3x ./testnet
func BenchmarkMesh20(b *testing.B) {
	const n = 20
	var join, dead, rss, heap, cpu float64
	first := true
	for b.Loop() {
		runtime.GC()
		before := processRSS()
		var m0 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		net, err := Start(context.Background(), n)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if err := net.WaitFor(ctx, (*Net).Converged); err != nil {
			b.Fatalf("no convergence: %v\n%s", err, net.Describe())
		}
		joined := time.Since(start)
		join += joined.Seconds()

		// Idle window: measured, not waited on for a condition.
		c0, t0 := ProcessCPU(), time.Now()
		<-time.After(5 * time.Second)
		cpu += float64(ProcessCPU()-c0) / float64(time.Since(t0)) * 100 / n
		if first {
			rss = (float64(processRSS()) - float64(before)) / n / (1 << 20)
			first = false
		}
		runtime.GC()
		var m1 runtime.MemStats
		runtime.ReadMemStats(&m1)
		heap += (float64(m1.HeapInuse+m1.StackInuse) - float64(m0.HeapInuse+m0.StackInuse)) / n / (1 << 20)

		killed := n / 2
		if err := net.Kill(killed); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		err = net.WaitFor(ctx, func(net *Net) bool {
			for _, i := range net.Live() {
				if net.Sees(i, killed) {
					return false
				}
			}
			return true
		})
		if err != nil {
			b.Fatal(err)
		}
		dead += time.Since(t1).Seconds()
		b.Logf("join %v, dead after %v", joined, time.Since(t1))
		cancel()
		net.Close()
	}
	k := float64(b.N)
	b.ReportMetric(join/k, "join_s")
	b.ReportMetric(dead/k, "dead_s")
	b.ReportMetric(rss, "rss_MB/peer")
	b.ReportMetric(heap/k, "heap_MB/peer")
	b.ReportMetric(cpu/k, "cpu_%/peer")
	b.ReportMetric(0, "ns/op")
}
