package qgemm

// goKernels is the portable kernel set: the same tiles as the assembly,
// computed with Go loops over the packed weights (8-bit activations).
var goKernels = kernelSet{
	name: "go", kind: kindGo, shift: 128, levels: 127,
	vecs: []int{1},
	rows: [5][]int{1: {1}},
}

func goTile(t *tile) {
	w := t.w
	ldb := 4 * w.np
	var acc [64]int32
	width := 16 * t.vecs
	for r := 0; r < t.rows*t.mt; r++ {
		copy(acc[:width], t.corr[:width])
		q := 0 // quad index into the weights
		for _, off := range t.taps {
			row := t.a[off+t.aoff+r*t.lda:]
			for p := 0; p < t.qpt; p++ {
				x := row[4*p : 4*p+4 : 4*p+4]
				x0, x1, x2, x3 := int32(x[0]), int32(x[1]), int32(x[2]), int32(x[3])
				b := w.data[q*ldb+4*t.j0 : q*ldb+4*t.j0+4*width]
				for j := 0; j < width; j++ {
					bj := b[4*j : 4*j+4 : 4*j+4]
					acc[j] += x0*int32(bj[0]) + x1*int32(bj[1]) + x2*int32(bj[2]) + x3*int32(bj[3])
				}
				q++
			}
		}
		out := t.c[t.coff+r*t.ldc : t.coff+r*t.ldc+width]
		for j := range out {
			out[j] = epilogue(acc[j], w.scale[t.j0+j], t.as[r], w.bias[t.j0+j], out[j], t.f)
		}
	}
}
