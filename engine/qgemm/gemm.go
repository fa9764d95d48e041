package qgemm

import "fmt"

// Gemm computes C = op(A·W) as the package doc says, for m rows of A (row
// i at a[i*lda:], lda >= w.KPadded()) and the n = w.N columns of C (row i
// at c[i*ldc:]). Only those m×n elements of C are written. It panics on
// slices too short for the sizes, like engine/gemm.
func Gemm(m int, a []uint8, lda int, as []float32, w *Weights, c []float32, ldc int, f Flags) {
	if lda < w.kp {
		panic(fmt.Sprintf("qgemm: lda %d is shorter than a row of k = %d", lda, w.kp))
	}
	offs := [1]int{0}
	GemmTaps(m, a, lda, offs[:], as, w, c, ldc, f)
}

// GemmTaps is Gemm whose k axis is read in len(offs) equal segments
// ("taps"): segment t of row i is a[offs[t]+i*lda:] for KPadded()/len(offs)
// bytes. A convolution over a padded channels-last image is one such
// product: a tap per kernel position, offs[t] its shift in the image, and
// consecutive output pixels of one image row consecutive rows (lda = the
// channels' bytes, for stride 1). Rows may overlap (lda below a segment's
// length): a one-channel image's taps are 4 neighbouring pixels, one byte
// apart from the next row's.
func GemmTaps(m int, a []uint8, lda int, offs []int, as []float32, w *Weights, c []float32, ldc int, f Flags) {
	if m == 0 {
		return
	}
	taps := len(offs)
	if taps == 0 || (w.kp/4)%taps != 0 {
		panic(fmt.Sprintf("qgemm: %d taps do not divide k = %d into quads", taps, w.kp))
	}
	seg := w.kp / taps
	if m < 0 || lda < 0 || ldc < w.N || len(as) < m || len(c) < (m-1)*ldc+w.N {
		panic(fmt.Sprintf("qgemm: bad sizes m=%d lda=%d ldc=%d (k=%d n=%d) for %d row scales and %d outputs", m, lda, ldc, w.kp, w.N, len(as), len(c)))
	}
	for _, o := range offs {
		if o < 0 || o+(m-1)*lda+seg > len(a) {
			panic(fmt.Sprintf("qgemm: tap at %d with %d rows of stride %d reads past %d bytes", o, m, lda, len(a)))
		}
	}
	run(impl, m, a, lda, offs, seg/4, as, w, c, ldc, f)
}

// run walks the tiles: columns in blocks of 16·vecs, rows in blocks of
// the kernel's row counts. Columns outside, rows inside, so that a block
// of weights stays in cache while every row passes over it.
func run(k kernelSet, m int, a []uint8, lda int, offs []int, qpt int, as []float32, w *Weights, c []float32, ldc int, f Flags) {
	corr := w.corrFor(k.shift)
	var tmp [8 * 64]float32 // tiles that stick out past column n go through here
	for j0 := 0; j0 < w.N; {
		left := (w.np - j0) / 16
		vecs := 1
		for _, v := range k.vecs {
			if v <= left {
				vecs = v
				break
			}
		}
		width := 16 * vecs
		edge := j0+width > w.N
		for i0 := 0; i0 < m; {
			rows := 1
			for _, r := range k.rows[vecs] {
				if r <= m-i0 {
					rows = r
					break
				}
			}
			mt := 1 // tiles of this height in one call; one through tmp
			if !edge {
				mt = (m - i0) / rows
			}
			t := tile{
				rows: rows, mt: mt, vecs: vecs, taps: offs, qpt: qpt,
				a: a, aoff: i0 * lda, lda: lda,
				w: w, j0: j0, corr: corr[j0:], as: as[i0:],
				c: c, coff: i0*ldc + j0, ldc: ldc, f: f,
			}
			if edge {
				cols := w.N - j0
				if f&Accumulate != 0 {
					for r := 0; r < rows; r++ {
						copy(tmp[r*width:r*width+cols], c[(i0+r)*ldc+j0:])
					}
				}
				t.c, t.coff, t.ldc = tmp[:], 0, width
				k.doTile(&t)
				for r := 0; r < rows; r++ {
					copy(c[(i0+r)*ldc+j0:(i0+r)*ldc+j0+cols], tmp[r*width:])
				}
			} else {
				k.doTile(&t)
			}
			i0 += rows * mt
		}
		j0 += width
	}
}

// tile is one call of a kernel: mt tiles of rows×(16·vecs) outputs, one
// below the other, from row aoff of a and column j0 of w, into c at coff.
type tile struct {
	rows, mt  int
	vecs      int
	taps      []int
	qpt       int // quads (4 k values) per tap
	a         []uint8
	aoff, lda int
	w         *Weights
	j0        int
	corr      []int32
	as        []float32
	c         []float32
	coff, ldc int
	f         Flags
}

// kernelSet is one instruction set's kernels: the shift its activations
// use, the column widths it has (in 16-column vectors, widest first), the
// row counts for each width (largest first) and the call.
type kernelSet struct {
	name   string
	kind   kernelKind
	shift  int32
	levels int32
	vecs   []int
	rows   [5][]int
}

// kernelKind names a kernel set for dispatch. The call goes through a
// switch (doTile), not a func field: through a func value the tile (and
// run's edge buffer) would escape to the heap, one allocation per tile.
type kernelKind uint8

const (
	kindGo kernelKind = iota
	kindVNNI
	kindAVX2
	kindSDOT
)

func (k *kernelSet) doTile(t *tile) {
	if k.kind == kindGo {
		goTile(t)
		return
	}
	asmTile(k.kind, t)
}
