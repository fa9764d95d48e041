package gemm

import "github.com/shoalmesh/shoal/engine/par"

// SetThreads sets how many goroutines one Sgemm call may use (process-wide,
// shared with everything else split by engine/par; values below 1 mean 1).
// Products too small to gain from it stay on the calling goroutine.
func SetThreads(n int) { par.SetThreads(n) }

// Threads reports the value set by SetThreads (default 1).
func Threads() int { return par.Threads() }

// minParallelMACs is the smallest m·n·k worth splitting. A hand-off through
// engine/par costs about a microsecond while the team is warm, but the halves
// of a small product lose more to smaller register tiles, duplicated packing
// and C's cache lines moving between cores: at 2^17 the LSTM's per-step
// products (32×32×128) split, and lstm-text trained at 0.76-0.84x of one
// thread's speed with --threads 2; at 2^18 they stay whole (0.94-1.08x).
const minParallelMACs = 1 << 18

// split is one Sgemm call cut into parts, each run by scratch.gemm.
type split struct {
	parts [par.MaxParts]prob
}

func (s *split) RunPart(i, _ int) {
	sc := getScratch()
	sc.gemm(&s.parts[i])
	putScratch(sc)
}

// freeSplits is a free list, not a sync.Pool, for the reason freeScratch is.
var freeSplits = make(chan *split, 8)

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
	per := (tiles + parts - 1) / parts * unit
	var sp *split
	select {
	case sp = <-freeSplits:
	default:
		sp = new(split)
	}
	limit := p.n
	if byRows {
		limit = p.m
	}
	n := 0
	for start := 0; start < limit; start += per {
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
			if p.bias != nil {
				q.bias = p.bias[start:]
			}
		}
		sp.parts[n] = q
		n++
	}
	par.Do(n, sp)
	clear(sp.parts[:n]) // drop references to the caller's matrices
	select {
	case freeSplits <- sp:
	default:
	}
	return true
}
