//go:build !purego

package nn

import "golang.org/x/sys/cpu"

// haveAVX512 selects lstmCellAVX512 (16 lanes) over lstmCellAVX2.
var haveAVX512 = haveAVX2 && cpu.X86.HasAVX512F

// lstmCellAVX2 runs the gates of one row of lstm.forwardRows for h units
// (a multiple of 8): z (the row's 4h gate inputs i, f, g, o, overwritten
// by their activations), b the bias (4h), cp the previous cell state, and
// writes the new cell state cn, the hidden state hn and tc = tanh(cn).
//
//go:noescape
func lstmCellAVX2(z, b, cp, cn, hn, tc *float32, h int)

// lstmRecAVX2 adds h·U to one row of gates: z[0:cols] += Σ_{p<k} h[p]·u[p*cols:
// (p+1)*cols], for cols a multiple of 64 (uses FMA).
//
//go:noescape
func lstmRecAVX2(h, u, z *float32, k, cols int)

// lstmCellAVX512 is lstmCellAVX2 on 16 lanes, for h a multiple of 16.
//
//go:noescape
func lstmCellAVX512(z, b, cp, cn, hn, tc *float32, h int)
