package gemm

import (
	"sync"
	"sync/atomic"
)

// nThreads is the process-wide thread count; 0 means the default of 1.
var nThreads atomic.Int32

// SetThreads sets how many goroutines one Sgemm call may use (process-wide;
// values below 1 mean 1). Products too small to gain from it stay on the
// calling goroutine.
func SetThreads(n int) {
	n = min(max(n, 1), 1024)
	nThreads.Store(int32(n))
}

// Threads reports the value set by SetThreads (default 1).
func Threads() int {
	return max(int(nThreads.Load()), 1)
}

// minParallelMACs is the smallest m·n·k worth splitting: handing work to a
// worker costs a few microseconds, about 2^17 multiply-adds at full speed.
const minParallelMACs = 1 << 18

// job is one thread's share of a product.
type job struct {
	p  prob
	wg *sync.WaitGroup
}

var (
	poolMu   sync.Mutex
	jobs     = make(chan job)
	nWorkers int
	wgPool   = sync.Pool{New: func() any { return new(sync.WaitGroup) }}
)

// ensureWorkers starts long-lived workers so that parallel calls neither
// spawn goroutines nor allocate. Workers are never stopped: they block on
// the channel and cost only their stacks.
func ensureWorkers(n int) {
	poolMu.Lock()
	for nWorkers < n {
		nWorkers++
		go worker()
	}
	poolMu.Unlock()
}

func worker() {
	for j := range jobs {
		s := getScratch()
		s.gemm(&j.p)
		putScratch(s)
		j.wg.Done()
	}
}

// parallel splits p into up to t parts along m or n, runs them, and reports false (doing nothing) when p is
// too small to split.
func parallel(p *prob, t int) bool {
	if p.m*p.n*p.k < minParallelMACs {
		return false
	}
	// Split where the largest part is smallest: rows come in tiles of mr,
	// columns in tiles of nr, and the last part may be short.
	mt, nt := (p.m+mr-1)/mr, (p.n+nr-1)/nr
	rowPer := (mt + t - 1) / t * mr
	colPer := (nt + t - 1) / t * nr
	byRows := min(rowPer, p.m)*p.n <= p.m*min(colPer, p.n)
	tiles, unit := nt, nr
	if byRows {
		tiles, unit = mt, mr
	}
	parts := min(t, tiles)
	if parts < 2 {
		return false
	}
	ensureWorkers(parts - 1)
	per := (tiles + parts - 1) / parts * unit
	wg := wgPool.Get().(*sync.WaitGroup)
	limit := p.n
	if byRows {
		limit = p.m
	}
	var first prob
	for i, start := 0, 0; start < limit; i, start = i+1, start+per {
		q := *p
		if byRows {
			q.m = min(per, p.m-start)
			if p.transA {
				q.a = p.a[start:]
			} else {
				q.a = p.a[start*p.lda:]
			}
			q.c = p.c[start*p.ldc:]
		} else {
			q.n = min(per, p.n-start)
			if p.transB {
				q.b = p.b[start*p.ldb:]
			} else {
				q.b = p.b[start:]
			}
			q.c = p.c[start:]
		}
		if i == 0 {
			first = q
			continue
		}
		wg.Add(1)
		jobs <- job{p: q, wg: wg}
	}
	s := getScratch()
	s.gemm(&first)
	putScratch(s)
	wg.Wait()
	wgPool.Put(wg)
	return true
}
