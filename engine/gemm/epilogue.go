package gemm

import "fmt"

// Epilogue is work SgemmEpilogue does on each element of C after the
// product, while the register tile is still in registers: what a dense
// layer does to its output (engine/nn), without a second pass over C.
type Epilogue struct {
	// Bias, when not nil, is added to every row of C: C[i,j] += Bias[j].
	// It needs at least n values.
	Bias []float32
	// ReLU then sets C[i,j] = max(C[i,j], 0) as Go's max computes it: a
	// NaN stays NaN and −0 becomes +0.
	ReLU bool
}

// SgemmEpilogue is Sgemm followed by ep on every element of C: C =
// relu(alpha·op(A)·op(B) + beta·C + bias). Each element gets the bits it
// would get from Sgemm and then a separate pass adding the bias (one
// float32 addition) and applying the ReLU, on every path.
func SgemmEpilogue(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue) {
	run(Threads(), prob{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		bias: ep.Bias, relu: ep.ReLU,
	})
}

// SgemmEpilogueSerial is SgemmEpilogue on the calling goroutine only.
func SgemmEpilogueSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep Epilogue) {
	run(1, prob{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		bias: ep.Bias, relu: ep.ReLU,
	})
}

// epilogueRows applies the epilogue to the rows×cols block of C, for the
// paths whose kernels do not fuse it (the AVX2 and Go kernels, the
// matrix-vector and narrow paths).
func epilogueRows(c []float32, ldc, rows, cols int, bias []float32, relu bool) {
	if bias == nil && !relu {
		return
	}
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		if bias != nil {
			b := bias[:cols]
			for j := range row {
				row[j] += b[j]
			}
		}
		if relu {
			for j, v := range row {
				if !(v > 0) && v == v { // 0 for negatives and −0, NaN kept
					row[j] = 0
				}
			}
		}
	}
}

// useBcst (with useAVX512) selects the generated R×32 and R×16 tiles
// (kernelbcst_amd64.s) over the 12×16, 6×32 and 16×16 ones and the AVX2
// edge kernel: 24 accumulators instead of 12 (mlp fc1 at batch 64: 69 ->
// 75-95% of the measured peak, best of 6 rounds), B's last columns read in place under a mask
// rather than copied into a padded panel, n < 16 (the mlp's n = 10 layer)
// in one tile of up to 24 rows, and the epilogue fused.
var useBcst = true

// rowsFirst makes macroBcst walk all column panels for one band of rows
// before the next band (A's band stays in L1, B streams from L2) rather
// than all row bands for one column panel, whose in-place 32-column panel
// of B maps to a quarter of the L1 sets when B's rows are 512 bytes apart
// (mlp fc1 at batch 256: 77 -> 95% of the measured peak; 1.0-1.3× on the
// other shapes measured).
var rowsFirst = true

// macroBcst is macro with the generated tiles: columns in panels of 32
// (the last one 1..32 wide), each down the block's rows in tiles of up to
// 12 rows (32 wide) or 24 (16 wide or less), their heights balanced so
// that no tile is left with a few rows. last says that this is the k
// block that finishes C, which applies the epilogue.
func (s *scratch) macroBcst(p *prob, at, bt tile, ic, jc, mb, nb, kb int, beta float32, last bool) {
	aData, rsA, csA, aNext := p.a[at.off:], at.rs, at.cs, mr*at.rs
	if at.packed {
		aData, rsA, csA, aNext = s.a, 1, mr, mr*kb
	}
	bData, rsB, bNext, bCol := p.b[bt.off:], bt.rs, nr, 1 // bCol: offset of column jr is jr·bCol
	if bt.packed {
		bData, rsB, bNext, bCol = s.b, nr, nr*kb, kb
	}
	c := p.c[ic*p.ldc+jc:]
	flags := 0
	if beta != 0 {
		flags |= 1
	}
	var bias []float32
	if last && p.bias != nil {
		bias = p.bias[jc:]
		flags |= 2
	}
	if last && p.relu {
		flags |= 4
	}
	// The bounds of the whole block, checked once. Row i of A is at
	// (i/mr)·aNext + (i%mr)·rsA, increasing with i, so the last row's
	// last k is the furthest element read.
	aLast := (mb-1)/mr*aNext + (mb-1)%mr*rsA + (kb-1)*csA
	bNeed := (kb-1)*rsB + nb
	if bt.packed {
		bNeed = roundUp(nb, nr) * kb
	}
	if aLast >= len(aData) || bNeed > len(bData) || (mb-1)*p.ldc+nb > len(c) || bias != nil && len(bias) < nb {
		panic(fmt.Sprintf("gemm: block out of bounds: mb=%d nb=%d kb=%d len(a)=%d aNext=%d rsA=%d csA=%d len(b)=%d rsB=%d len(c)=%d ldc=%d len(bias)=%d",
			mb, nb, kb, len(aData), aNext, rsA, csA, len(bData), rsB, len(c), p.ldc, len(bias)))
	}
	var bp *float32
	tile := func(ir, rows, jr int) {
		cols := min(2*nr, nb-jr)
		aOff := ir * rsA
		if at.packed {
			aOff = ir * kb // ir is a multiple of mr: the start of a panel
		}
		if bias != nil {
			bp = &bias[jr]
		}
		bcstCall(kb, &aData[aOff], aNext, rsA, csA, &bData[jr*bCol], bNext, rsB, &c[ir*p.ldc+jr], p.ldc, p.alpha, beta, rows, cols, flags, bp)
	}
	// Row tiles of up to maxRows rows, their heights balanced so that no
	// tile is left with a few rows (packed A: panels of mr, so plain).
	maxRows := bcst32Rows
	if nb <= nr {
		maxRows = bcst16Rows
	}
	tiles := (mb + maxRows - 1) / maxRows
	if rowsFirst {
		for t, ir := 0, 0; ir < mb; t++ {
			rows := min(maxRows, mb-ir)
			if !at.packed {
				rows = (mb - ir + tiles - t - 1) / (tiles - t)
			}
			for jr := 0; jr < nb; jr += 2 * nr {
				tile(ir, rows, jr)
			}
			ir += rows
		}
		return
	}
	for jr := 0; jr < nb; jr += 2 * nr {
		for t, ir := 0, 0; ir < mb; t++ {
			rows := min(maxRows, mb-ir)
			if !at.packed {
				rows = (mb - ir + tiles - t - 1) / (tiles - t)
			}
			tile(ir, rows, jr)
			ir += rows
		}
	}
}
