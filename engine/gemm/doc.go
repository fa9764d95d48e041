// Package gemm multiplies float32 matrices (C = alpha·op(A)·op(B) + beta·C),
// the kernel behind every Dense, Conv2D and LSTM step in the engine.
//
// Matrices are row-major with explicit leading dimensions, as in CBLAS with
// CblasRowMajor. Sgemm never allocates after warm-up and is safe for
// concurrent use.
//
// # How
//
// The loop structure is GotoBLAS/BLIS: C is cut into kc-deep, mc-tall and
// nc-wide cache blocks and then into 6×16 register tiles, each computed by a
// micro-kernel that keeps the tile in registers and walks k once. On amd64
// the micro-kernel is Go assembly: AVX2+FMA (kernel_amd64.s, twelve 8-lane
// accumulators, A broadcast, B loaded), and where the CPU has AVX-512 a
// 12×16 kernel doing two stacked tiles with twelve 16-lane accumulators
// (kernel512_amd64.s). With AVX-512 three more shapes of tile cut waste:
// 6×32 wherever two column panels remain (fewer loads per FMA,
// kernelwide_amd64.s), 16×16 for the last 16 or 32 rows that 12-row tiles
// would leave short (kernel16_amd64.s), and a matrix-vector kernel for
// one-row products, a batch of one (gemv_amd64.s). By default (useBcst)
// the AVX-512 products run generated tiles instead (gen_bcst.go ->
// kernelbcst_amd64.s): R×32 for R = 1..12 (24 accumulators, A prefetched)
// and R×16 for R = 1..24 with a column mask, so that B's last columns and
// narrow products (the mlp's n = 10 layer) are read in place without a
// padded copy. Their row heights are balanced over a block, all column
// panels of a band of rows run before the next band, and they fuse an
// epilogue (SgemmEpilogue: bias and ReLU, a dense layer's work). Every kernel gives an
// element the same FMAs in the same order, so a row's bits do not depend on
// the tile that computed it. The choice is made at start-up with
// golang.org/x/sys/cpu. Other platforms, amd64 without AVX2, and builds with
// the purego tag use a portable Go kernel with the same interface.
//
// The kernels take general strides for A, so they read A in place whether it
// is transposed or not, and B in place when it is not transposed. Packing
// into panels happens only where it pays: always for a transposed B, and for
// operands whose rows are 4 KiB or more apart (page and L1-set conflicts).
// For the small products of training (k of 9..784) copying would cost as
// much as the arithmetic. Edge tiles (m not a multiple of 6, n not a
// multiple of 16) use masked stores, so C is never touched outside its m×n
// region and beta = 0 never reads C.
//
// SetThreads(n) lets one Sgemm call split C's rows or columns over n
// goroutines (the engine/par team: long-lived workers, no allocation per
// call) when the product is large enough to repay the hand-off.
// SgemmSerial never splits: it is for callers that split a product
// themselves.
//
// SHOAL_GEMM_AVX512=0 in the environment disables the AVX-512 kernel (for
// CPUs that lower their clock for it).
//
// Figures and the commands that produce them: BENCHMARKS.md in this folder.
package gemm
