//go:build !purego

package nn

// lstmCellAVX2 runs the gates of one row of lstm.forwardRows for h units
// (a multiple of 8): z (the row's 4h gate inputs i, f, g, o, overwritten
// by their activations), b the bias (4h), cp the previous cell state, and
// writes the new cell state cn, the hidden state hn and tc = tanh(cn).
//
//go:noescape
func lstmCellAVX2(z, b, cp, cn, hn, tc *float32, h int)
