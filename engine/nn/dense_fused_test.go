package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shoalmesh/shoal/engine/gemm"
	"github.com/shoalmesh/shoal/engine/par"
)

// TestDenseFusedMatchesSeparatePass: a dense layer's forward pass, whose
// bias and ReLU gemm fuses into the product, gives the bits of the product
// followed by the separate bias-and-activation pass (biasAct) it replaced,
// for every activation, batch sizes on and off the tile sizes, the mlp's
// layer shapes and odd ones, on one thread and split by rows on two.
func TestDenseFusedMatchesSeparatePass(t *testing.T) {
	saved := par.Threads()
	defer par.SetThreads(saved)
	shapes := [][2]int{{784, 128}, {128, 10}, {33, 17}, {5, 1}}
	acts := []actKind{actLinear, actReLU, actTanh, actSigmoid, actSoftmax}
	for _, threads := range []int{1, 2} {
		par.SetThreads(threads)
		for _, sh := range shapes {
			for _, act := range acts {
				for _, rows := range []int{1, 5, 64, 67} {
					name := fmt.Sprintf("threads=%d/%dx%d/act=%d/rows=%d", threads, sh[0], sh[1], act, rows)
					r := rand.New(rand.NewPCG(uint64(rows), uint64(sh[1])))
					l := &dense{in: sh[0], out: sh[1], outer: 1, act: act}
					l.w = make([]float32, sh[0]*sh[1])
					l.b = make([]float32, sh[1])
					for i := range l.w {
						l.w[i] = float32(r.NormFloat64()) / 8
					}
					for i := range l.b {
						l.b[i] = float32(r.NormFloat64())
					}
					x := make([]float32, rows*sh[0])
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
					if l.rowParts(rows) == 1 && l.splitParts(rows) > 1 {
						continue // split by feature: partial sums, then biasAct as before
					}
					got := append([]float32(nil), l.forward(&batchCtx{n: rows}, x)...)
					// The pass the epilogue replaced, on one thread.
					ref := &dense{in: l.in, out: l.out, outer: 1, act: act, w: l.w, b: l.b}
					ref.y = make([]float32, rows*l.out)
					gemm.SgemmSerial(false, false, rows, l.out, l.in, 1, x, l.in, l.w, l.out, 0, ref.y, l.out)
					ref.biasAct(0, rows)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(ref.y[i]) {
							t.Fatalf("%s: y[%d] = %v fused, %v with a separate pass", name, i, got[i], ref.y[i])
						}
					}
				}
			}
		}
	}
}
