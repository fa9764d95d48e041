// Package gemm multiplies float32 matrices (C = alpha·op(A)·op(B) + beta·C),
// the kernel behind every Dense, Conv2D and LSTM step in the engine.
//
// Matrices are row-major with explicit leading dimensions, as in CBLAS with
// CblasRowMajor. Sgemm never allocates after warm-up and is safe for
// concurrent use.
package gemm
