package gemm

import "fmt"

// Register block of the micro-kernel: it keeps an mr×nr tile of C in
// registers (6 rows × two 8-lane YMM vectors = 12 accumulators, which leaves
// room for two B vectors and two A broadcasts in the 16 YMM registers). The
// AVX-512 kernel does two such tiles stacked (12 rows × one 16-lane ZMM).
const (
	mr = 6
	nr = 16
	// tall is the height of the AVX-512 16×16 tile (kernel16_amd64.s).
	tall = 16
)

// Cache blocking as in GotoBLAS/BLIS. A kc×nr micro-panel of B (24 KiB)
// stays in the 48 KiB L1 while the mc×kc block of A (288 KiB) streams from
// the L2; the kc×nc block of B lives in the L3. mc is a multiple of mr and nc
// of nr so that only the last block of a dimension has edge tiles.
const (
	kc = 384
	mc = 192
	nc = 3072
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ as transA/transB say. op(A) is m×k, op(B) is k×n
// and C is m×n; lda, ldb and ldc are the row strides of A, B and C as stored.
// When beta is 0, C is not read (NaNs in C do not propagate). It panics on
// negative sizes, too-small strides or too-short slices, like gonum's BLAS.
// It does not allocate once its pooled packing buffers exist, and is safe
// for concurrent use.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	run(Threads(), prob{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	})
}

// SgemmSerial is Sgemm on the calling goroutine only, whatever SetThreads
// says: for callers that split a product themselves (a part of a par.Do).
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	run(1, prob{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	})
}

func run(threads int, p prob) {
	p.check()
	if p.m == 0 || p.n == 0 {
		return
	}
	if p.alpha == 0 || p.k == 0 {
		scaleC(p.m, p.n, p.beta, p.c, p.ldc)
		epilogueRows(p.c, p.ldc, p.m, p.n, p.bias, p.relu)
		return
	}
	if threads > 1 && parallel(&p, threads) {
		return
	}
	s := getScratch()
	s.gemm(&p)
	putScratch(s)
}

// prob is one Sgemm call (or one thread's share of it).
type prob struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	// The epilogue, applied to C after the product (SgemmEpilogue):
	// bias[j] added to column j (nil: none), then ReLU.
	bias []float32
	relu bool
}

func (p *prob) check() {
	if p.m < 0 || p.n < 0 || p.k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", p.m, p.n, p.k))
	}
	ar, ac := p.m, p.k
	if p.transA {
		ar, ac = p.k, p.m
	}
	br, bc := p.k, p.n
	if p.transB {
		br, bc = p.n, p.k
	}
	checkMat("a", ar, ac, p.a, p.lda)
	checkMat("b", br, bc, p.b, p.ldb)
	checkMat("c", p.m, p.n, p.c, p.ldc)
	if p.bias != nil && len(p.bias) < p.n {
		panic(fmt.Sprintf("gemm: len(bias)=%d < %d columns", len(p.bias), p.n))
	}
}

// checkMat panics unless buf can hold a rows×cols matrix with row stride ld.
func checkMat(name string, rows, cols int, buf []float32, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: ld%s=%d < %d columns", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(buf) < need {
		panic(fmt.Sprintf("gemm: len(%s)=%d, need %d for %d×%d with stride %d", name, len(buf), need, rows, cols, ld))
	}
}

// scaleC sets C = beta·C, writing zeros without reading C when beta is 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// scratch holds the packing buffers of one goroutine. They are pooled so
// that steady-state calls allocate nothing.
type scratch struct {
	a     []float32        // packed block of A: mc/mr panels of mr×kc
	b     []float32        // packed block of B: nc/nr panels of kc×nr
	aEdge [mr * kc]float32 // last, short row panel of an unpacked A
	bEdge [kc * nr]float32 // last, narrow column panel of an unpacked B
	tmp   [mr * nr]float32 // the portable edge kernel's tile (see edgeViaTmp)
	d     []float32        // Cᵀ of a narrow product (see narrow)
}

// freeScratch is a free list rather than a sync.Pool because a pool is
// emptied by every GC, and each refill would allocate ~40 KiB again.
var freeScratch = make(chan *scratch, 64)

func getScratch() *scratch {
	select {
	case s := <-freeScratch:
		return s
	default:
		return new(scratch)
	}
}

func putScratch(s *scratch) {
	select {
	case freeScratch <- s:
	default: // more goroutines than slots: let the GC have it
	}
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// grow returns buf resliced to n elements, reallocating only when too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// Packing policy. Packing copies a block into the contiguous panel order the
// micro-kernel reads. Measured on the training shapes (k of 9..784, strides
// of 9..784 floats) the kernel is as fast or faster reading A and B in place,
// because the copy costs as much as the arithmetic it would speed up. Packing
// pays once rows are 4 KiB or more apart: then every row of a micro-panel is
// on its own page and in the same L1 set (square 1024: 45 -> 70 GFLOP/s).
// Transposed B is always packed: the kernel needs nr consecutive floats per k.
// Tests set these to 0 (always pack) and to a huge value (never pack).
var (
	packAStride = 1024 // pack A when its stored row stride is at least this
	packBStride = 1024 // pack an untransposed B when ldb is at least this
)

// Packing a block is only worth it when the block is reused by several
// register tiles; below this many tiles across, read in place.
var minReuseTiles = 4

// bcstPacksA says whether the generated AVX-512 tiles (useBcst) get a
// packed A under the stride rule above. They broadcast A's elements from
// wherever they are and prefetch each row's next lines themselves, so
// reading A in place was faster wherever A's rows are its stored rows:
// the cnn's fc1 at batch 64 (64×128×1568) 131-138 -> 218 GFLOP/s, 256×128×1568
// 133 -> 187-200, square 1024 152-155 -> 164-176, 64×128×2048 117 -> 199.
// A transposed A with a long k still packs: each k step is then a row of
// the stored matrix, 4 KiB or more on, and Aᵀ of 1024×1024 ran at 141 in
// place against 166 packed; with k ≤ kc in place won (1568×128×64 from
// 112-126 to 187-190, 1568×128×256 from 143-146 to 214-217). Tests set
// bcstAlwaysPacksA, to cover the packed path of those tiles. (A variable
// of func type would make the problem escape: an allocation per call.)
func bcstPacksA(p *prob) bool { return bcstAlwaysPacksA || p.transA && p.k > kc }

var bcstAlwaysPacksA = false

// gemm runs the blocked algorithm on one goroutine.
func (s *scratch) gemm(p *prob) {
	if s.rowTimesMatrix(p) || s.narrow(p) {
		return
	}
	m, n, k := p.m, p.n, p.k
	// Strides of op(A) and op(B) in the stored arrays: element (i,l) of op(A)
	// is a[i*rsA+l*csA]; element (l,j) of op(B) is b[l*rsB+j*csB].
	rsA, csA := p.lda, 1
	if p.transA {
		rsA, csA = 1, p.lda
	}
	rsB, csB := p.ldb, 1
	if p.transB {
		rsB, csB = 1, p.ldb
	}
	fused := useAVX512 && useBcst && haveBcst()
	packA := p.lda >= packAStride && n >= minReuseTiles*nr && (!fused || bcstPacksA(p))
	packB := p.transB || p.ldb >= packBStride && m >= minReuseTiles*mr
	// k blocks of equal size up to kc: k = 400 runs as 200+200, not as
	// 384+16, whose short block would cost a whole pass over C for little.
	kStep := (k + (k+kc-1)/kc - 1) / ((k + kc - 1) / kc)
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kStep {
			kb := min(kStep, k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			bt := tile{off: pc*rsB + jc*csB, rs: rsB}
			if packB {
				s.b = grow(s.b, kb*roundUp(nb, nr))
				packBBlock(s.b, p.b, bt.off, rsB, csB, kb, nb)
				bt = tile{packed: true}
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				at := tile{off: ic*rsA + pc*csA, rs: rsA, cs: csA}
				if packA {
					s.a = grow(s.a, kb*roundUp(mb, mr))
					packABlock(s.a, p.a, at.off, rsA, csA, mb, kb)
					at = tile{packed: true}
				}
				if fused {
					s.macroBcst(p, at, bt, ic, jc, mb, nb, kb, beta, pc+kb == k)
				} else {
					s.macro(p, at, bt, ic, jc, mb, nb, kb, beta)
				}
			}
		}
	}
	if !fused {
		epilogueRows(p.c, p.ldc, m, n, p.bias, p.relu)
	}
}

// rowTimesMatrix handles C = alpha·x·op(B) + beta·C for one row x and an
// untransposed B (a batch of one through a dense layer): the matrix-vector
// kernel streams B's rows once, 128 columns at a time, where the 12×16 tile
// would compute 11 rows of padding. Columns past the last multiple of 16
// take the tiled path. Each element's arithmetic (FMAs over k in order, in
// the same k blocks, then the alpha/beta step) is the tiled kernels', so a
// sample gets the same bits alone as inside a batch. It reports false when
// p is not such a product or the CPU has no such kernel.
func (s *scratch) rowTimesMatrix(p *prob) bool {
	if p.m != 1 || p.transB || p.n < nr || !haveGemv() {
		return false
	}
	csA := 1
	if p.transA {
		csA = p.lda
	}
	cols := p.n / nr * nr
	k := p.k
	kStep := (k + (k+kc-1)/kc - 1) / ((k + kc - 1) / kc)
	for pc := 0; pc < k; pc += kStep {
		kb := min(kStep, k-pc)
		beta := p.beta
		if pc > 0 {
			beta = 1
		}
		gemvCols(kb, p.a[pc*csA:], csA, p.b[pc*p.ldb:], p.ldb, p.c, p.alpha, beta, cols)
	}
	epilogueRows(p.c, p.ldc, 1, cols, p.bias, p.relu)
	if cols < p.n {
		rest := *p
		rest.n -= cols
		rest.b, rest.c = p.b[cols:], p.c[cols:]
		if p.bias != nil {
			rest.bias = p.bias[cols:]
		}
		s.gemm(&rest)
	}
	return true
}

// narrow handles C = alpha·Aᵀ·B + beta·C with fewer than nr columns, at
// least nr rows and a long k: the weight gradient of a convolution with few
// input channels (16×9 from k = 50176). Tiled directly, every k block would
// pack B's narrow panel and A's short panel for only a few tiles, and the
// copying would cost three times the arithmetic. Computing D = Cᵀ =
// Bᵀ·A instead makes A's rows full 16-wide B panels read in place; Dᵀ is
// then merged into C. It reports false when p is not such a product.
func (s *scratch) narrow(p *prob) bool {
	if p.n >= nr || p.m < nr || !p.transA || p.k < 2*kc || p.m*p.n > 1<<14 {
		return false
	}
	s.d = grow(s.d, p.m*p.n)
	d := s.d
	dp := prob{
		transA: !p.transB, transB: false,
		m: p.n, n: p.m, k: p.k,
		alpha: 1, beta: 0,
		a: p.b, lda: p.ldb,
		b: p.a, ldb: p.lda,
		c: d, ldc: p.m,
	}
	s.gemm(&dp)
	for i := 0; i < p.m; i++ {
		crow := p.c[i*p.ldc : i*p.ldc+p.n]
		for j := range crow {
			v := p.alpha * d[j*p.m+i]
			if p.beta != 0 {
				v += p.beta * crow[j]
			}
			crow[j] = v
		}
	}
	epilogueRows(p.c, p.ldc, p.m, p.n, p.bias, p.relu)
	return true
}

// tile says where a block of op(A) or op(B) is: packed in scratch, or in
// place at offset off with strides rs (and cs for A).
type tile struct {
	packed      bool
	off, rs, cs int
}

// macro multiplies an mb×kb block of op(A) by a kb×nb block of op(B) into
// the mb×nb block of C at (ic, jc), tile by tile.
func (s *scratch) macro(p *prob, at, bt tile, ic, jc, mb, nb, kb int, beta float32) {
	alpha := p.alpha
	// A short last row panel read in place would run past A's rows: copy it
	// into aEdge, zero-padded, once for all column tiles.
	mFull := mb / mr * mr
	if !at.packed && mFull < mb {
		packABlock(s.aEdge[:mr*kb], p.a, at.off+mFull*at.rs, at.rs, at.cs, mb-mFull, kb)
	}
	// Where 12-row tiles would leave 4 or 8 rows for the slower 6-row
	// kernels (16 or 32 cnn filters, batches of 64 or 256), the last 16 or
	// 32 rows run as 16-row tiles instead. A packed block holds panels of
	// 6 rows, so there only one 16-row tile, starting on a panel.
	tallFrom := mb
	switch {
	case mb%(2*mr) == 4 && mb >= tall:
		tallFrom = mb - tall
	case mb%(2*mr) == 8 && mb >= 2*tall && !at.packed:
		tallFrom = mb - 2*tall
	}
	wideDone := 0 // columns below this have rows [0, mFull) done in 6×32 tiles
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		if useAVX512 && useWide && tallFrom > 0 && jr >= wideDone && jr+2*nr <= nb && mFull > 0 {
			s.wide(p, at, bt, ic, jc, jr, mFull, kb, beta)
			wideDone = jr + 2*nr
		}
		ir0 := 0
		if jr < wideDone {
			ir0 = mFull // only a short last row panel is left
		}
		// B micro-panel: data, offset of element (0,0), row stride.
		bData, bOff, bRS := p.b, bt.off+jr, bt.rs
		switch {
		case bt.packed:
			bData, bOff, bRS = s.b, jr*kb, nr
		case cols < nr:
			packBBlock(s.bEdge[:kb*nr], p.b, bOff, bt.rs, 1, kb, cols)
			bData, bOff, bRS = s.bEdge[:], 0, nr
		}
		for ir := ir0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			if useAVX512 && cols == nr && ir0 == 0 && ir >= tallFrom {
				aData, aOff, aRS, aCS, next := p.a, at.off+ir*at.rs, at.rs, at.cs, mr*at.rs
				if at.packed {
					aData, aOff, aRS, aCS, next = s.a, ir*kb, 1, mr, mr*kb
				}
				kernel3(kb, aData[aOff:], aData[aOff+next:], aData[aOff+2*next:], aRS, aCS, bData[bOff:], bRS, p.c[(ic+ir)*p.ldc+jc+jr:], p.ldc, alpha, beta)
				ir += tall - mr
				continue
			}
			if useAVX512 && cols == nr && ir0 == 0 && ir+2*mr <= mb {
				// Two full row tiles at once; the second one's A starts
				// mr rows further on, in place or in the next packed panel.
				aData, aOff, aRS, aCS, next := p.a, at.off+ir*at.rs, at.rs, at.cs, mr*at.rs
				if at.packed {
					aData, aOff, aRS, aCS, next = s.a, ir*kb, 1, mr, mr*kb
				}
				kernel2(kb, aData[aOff:], aData[aOff+next:], aRS, aCS, bData[bOff:], bRS, p.c[(ic+ir)*p.ldc+jc+jr:], p.ldc, alpha, beta)
				ir += mr
				continue
			}
			aData, aOff, aRS, aCS := p.a, at.off+ir*at.rs, at.rs, at.cs
			switch {
			case at.packed:
				aData, aOff, aRS, aCS = s.a, ir*kb, 1, mr
			case rows < mr:
				aData, aOff, aRS, aCS = s.aEdge[:], 0, 1, mr
			}
			cOff := (ic+ir)*p.ldc + jc + jr
			if rows == mr && cols == nr {
				kernel(kb, aData[aOff:], aRS, aCS, bData[bOff:], bRS, p.c[cOff:], p.ldc, alpha, beta)
				continue
			}
			edge(kb, aData[aOff:], aRS, aCS, bData[bOff:], bRS, p.c[cOff:], p.ldc, alpha, beta, rows, cols, &s.tmp)
		}
	}
}

// useWide (with useAVX512) selects the 6×32 AVX-512 tile wherever two full
// column panels remain: per k step it loads 8 values for 12 FMAs, the
// 12×16 tile 13, and the two load ports, not the FMA units, bound the
// 12×16 tile (mlp fc1 at batch 256: 94 -> 116 GFLOP/s, best of 8 rounds).
// Blocks of exactly 16 or 32 rows (the cnn's filters) keep the 16×16 tile,
// which measured faster there than 6-row tiles plus an edge.
var useWide = true

// wide runs the 6×32 tiles of rows [0, rows) (a multiple of mr) and columns
// jr..jr+2·nr of the block.
func (s *scratch) wide(p *prob, at, bt tile, ic, jc, jr, rows, kb int, beta float32) {
	bData, b0, b1, bRS := p.b, bt.off+jr, bt.off+jr+nr, bt.rs
	if bt.packed {
		bData, b0, b1, bRS = s.b, jr*kb, (jr+nr)*kb, nr
	}
	for ir := 0; ir < rows; ir += mr {
		aData, aOff, aRS, aCS := p.a, at.off+ir*at.rs, at.rs, at.cs
		if at.packed {
			aData, aOff, aRS, aCS = s.a, ir*kb, 1, mr
		}
		kernelWide(kb, aData[aOff:], aRS, aCS, bData[b0:], bData[b1:], bRS, p.c[(ic+ir)*p.ldc+jc+jr:], p.ldc, p.alpha, beta)
	}
}

// kernelWide is kernel for an mr×2·nr tile whose two column panels of B
// start at b0 and b1, with the same stride.
func kernelWide(k int, a []float32, rsA, csA int, b0, b1 []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	if k < 1 || (mr-1)*rsA+(k-1)*csA >= len(a) || (k-1)*rsB+nr > len(b0) || (k-1)*rsB+nr > len(b1) || (mr-1)*ldc+2*nr > len(c) {
		panic(fmt.Sprintf("gemm: wide kernel out of bounds: k=%d len(a)=%d rsA=%d csA=%d len(b0)=%d len(b1)=%d rsB=%d len(c)=%d ldc=%d",
			k, len(a), rsA, csA, len(b0), len(b1), rsB, len(c), ldc))
	}
	microKernelWide(k, a, rsA, csA, b0, b1, rsB, c, ldc, alpha, beta)
}

// kernel computes the mr×nr tile C = alpha·A·B + beta·C over k steps, where
// A's element (i,l) is a[i*rsA+l*csA], B's element (l,j) is b[l*rsB+j] and
// C's element (i,j) is c[i*ldc+j]; C is not read when beta is 0. The bounds
// are checked here, once per tile, because the assembly kernels do not.
func kernel(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	if k < 1 || (mr-1)*rsA+(k-1)*csA >= len(a) || (k-1)*rsB+nr > len(b) || (mr-1)*ldc+nr > len(c) {
		panic(fmt.Sprintf("gemm: kernel out of bounds: k=%d len(a)=%d rsA=%d csA=%d len(b)=%d rsB=%d len(c)=%d ldc=%d",
			k, len(a), rsA, csA, len(b), rsB, len(c), ldc))
	}
	microKernel(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta)
}

// kernel2 is kernel for a 2·mr×nr tile whose A rows 0..mr-1 start at a0
// and rows mr..2·mr-1 at a1, with the same strides.
func kernel2(k int, a0, a1 []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	if k < 1 || (mr-1)*rsA+(k-1)*csA >= len(a0) || (mr-1)*rsA+(k-1)*csA >= len(a1) ||
		(k-1)*rsB+nr > len(b) || (2*mr-1)*ldc+nr > len(c) {
		panic(fmt.Sprintf("gemm: kernel2 out of bounds: k=%d len(a0)=%d len(a1)=%d rsA=%d csA=%d len(b)=%d rsB=%d len(c)=%d ldc=%d",
			k, len(a0), len(a1), rsA, csA, len(b), rsB, len(c), ldc))
	}
	microKernel2(k, a0, a1, rsA, csA, b, rsB, c, ldc, alpha, beta)
}

// kernel3 is kernel for a tall×nr tile whose A rows 0..5 start at a0, rows
// 6..11 at a1 and rows 12..15 at a2, with the same strides.
func kernel3(k int, a0, a1, a2 []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	if k < 1 || (mr-1)*rsA+(k-1)*csA >= len(a0) || (mr-1)*rsA+(k-1)*csA >= len(a1) || (tall-2*mr-1)*rsA+(k-1)*csA >= len(a2) ||
		(k-1)*rsB+nr > len(b) || (tall-1)*ldc+nr > len(c) {
		panic(fmt.Sprintf("gemm: kernel3 out of bounds: k=%d len(a0)=%d len(a1)=%d len(a2)=%d rsA=%d csA=%d len(b)=%d rsB=%d len(c)=%d ldc=%d",
			k, len(a0), len(a1), len(a2), rsA, csA, len(b), rsB, len(c), ldc))
	}
	microKernel3(k, a0, a1, a2, rsA, csA, b, rsB, c, ldc, alpha, beta)
}

// edge computes the top-left rows×cols part of a tile (rows ≤ mr, cols ≤ nr)
// with the contract of kernel; A and B must still hold a full mr×nr tile's
// operands (zero-padded), C only the stored part.
func edge(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, rows, cols int, tmp *[mr * nr]float32) {
	if k < 1 || rows < 1 || rows > mr || cols < 1 || cols > nr ||
		(mr-1)*rsA+(k-1)*csA >= len(a) || (k-1)*rsB+nr > len(b) || (rows-1)*ldc+cols > len(c) {
		panic(fmt.Sprintf("gemm: edge kernel out of bounds: k=%d rows=%d cols=%d len(a)=%d rsA=%d csA=%d len(b)=%d rsB=%d len(c)=%d ldc=%d",
			k, rows, cols, len(a), rsA, csA, len(b), rsB, len(c), ldc))
	}
	edgeKernel(k, a, rsA, csA, b, rsB, c, ldc, alpha, beta, rows, cols, tmp)
}

// edgeViaTmp is the portable edge kernel: the full tile goes to tmp, then
// its stored part is merged into C.
func edgeViaTmp(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32, rows, cols int, tmp *[mr * nr]float32) {
	microKernel(k, a, rsA, csA, b, rsB, tmp[:], nr, 1, 0)
	for i := 0; i < rows; i++ {
		crow := c[i*ldc : i*ldc+cols]
		trow := tmp[i*nr : i*nr+cols]
		if beta == 0 {
			for j, v := range trow {
				crow[j] = alpha * v
			}
		} else {
			for j, v := range trow {
				crow[j] = alpha*v + beta*crow[j]
			}
		}
	}
}

// packABlock copies the rows×cols block of op(A) at offset off (strides rs,
// cs) into dst as row panels of mr rows: panel q holds rows q*mr.. as
// dst[q*mr*cols + l*mr + i]. Rows past the block are zero so edge tiles
// compute on zeros.
func packABlock(dst, a []float32, off, rs, cs, rows, cols int) {
	for r := 0; r < rows; r += mr {
		h := min(mr, rows-r)
		panel := dst[r*cols : r*cols+mr*cols]
		base := off + r*rs
		if cs == 1 {
			for i := 0; i < h; i++ {
				src := a[base+i*rs : base+i*rs+cols]
				for l, v := range src {
					panel[l*mr+i] = v
				}
			}
		} else {
			// rs == 1: the h rows of one column are consecutive. A loop
			// rather than copy: h is at most 6, too short for a call.
			for l := 0; l < cols; l++ {
				src := a[base+l*cs : base+l*cs+h]
				dst := panel[l*mr : l*mr+h]
				//lint:ignore S1001 a call to memmove costs more than h ≤ 6 moves
				for i, v := range src {
					dst[i] = v
				}
			}
		}
		if h < mr {
			for l := 0; l < cols; l++ {
				clear(panel[l*mr+h : l*mr+mr])
			}
		}
	}
}

// packBBlock copies the rows×cols block of op(B) at offset off (strides rs,
// cs) into dst as column panels of nr columns: panel q holds columns q*nr..
// as dst[q*nr*rows + l*nr + j], zero past the block's last column.
func packBBlock(dst, b []float32, off, rs, cs, rows, cols int) {
	for c0 := 0; c0 < cols; c0 += nr {
		w := min(nr, cols-c0)
		panel := dst[c0*rows : c0*rows+nr*rows]
		base := off + c0*cs
		if cs == 1 {
			for l := 0; l < rows; l++ {
				d := panel[l*nr : l*nr+nr]
				copy(d, b[base+l*rs:base+l*rs+w])
				clear(d[w:])
			}
			continue
		}
		// rs == 1: column j of op(B) is row j of stored B. Walk k outside so
		// that the writes are sequential; the w source rows stay in L1.
		if w == nr {
			packBT16(panel, b[base:], cs, rows)
			continue
		}
		clear(panel)
		for l := 0; l < rows; l++ {
			d := panel[l*nr : l*nr+w]
			src := b[base+l:]
			for j := range d {
				d[j] = src[j*cs]
			}
		}
	}
}

// packBT16 packs 16 columns of a transposed B: panel[l*16+j] = b[j*ld+l].
// Unrolled over j with each row resliced to rows elements so that the loop
// carries no bounds checks; this copy is the main cost of A·Bᵀ at small m.
func packBT16(panel, b []float32, ld, rows int) {
	r0, r1, r2, r3 := b[0*ld:][:rows], b[1*ld:][:rows], b[2*ld:][:rows], b[3*ld:][:rows]
	r4, r5, r6, r7 := b[4*ld:][:rows], b[5*ld:][:rows], b[6*ld:][:rows], b[7*ld:][:rows]
	r8, r9, r10, r11 := b[8*ld:][:rows], b[9*ld:][:rows], b[10*ld:][:rows], b[11*ld:][:rows]
	r12, r13, r14, r15 := b[12*ld:][:rows], b[13*ld:][:rows], b[14*ld:][:rows], b[15*ld:][:rows]
	panel = panel[:rows*nr]
	for l := range r0 {
		d := panel[l*nr : l*nr+nr : l*nr+nr]
		d[0], d[1], d[2], d[3] = r0[l], r1[l], r2[l], r3[l]
		d[4], d[5], d[6], d[7] = r4[l], r5[l], r6[l], r7[l]
		d[8], d[9], d[10], d[11] = r8[l], r9[l], r10[l], r11[l]
		d[12], d[13], d[14], d[15] = r12[l], r13[l], r14[l], r15[l]
	}
}
