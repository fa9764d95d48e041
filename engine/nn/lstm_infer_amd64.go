//go:build !purego

package nn

// lstmInferAVX512 runs one inference step for rows rows (lstm_infer.go):
// row r's gates are b + x[r]·w + h_r·u (h_r the first hk values of h's
// row r; hk = 0 at the first step), and its new cell and hidden state
// replace c's row r and fill hn's row r. State rows have units values.
// mode 1 adds each new h into pool's row, mode 2 keeps the maximum there.
// units is a multiple of 16; w is [in, 4·units], u [units, 4·units].
//
//go:noescape
func lstmInferAVX512(x **float32, w *float32, in int, h, u *float32, hk int, b, c, hn, pool *float32, rows, units, mode int)
