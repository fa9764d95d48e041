package qgemm

// Flags select the output step of a product.
type Flags int

const (
	// ReLU clamps the outputs at 0.
	ReLU Flags = 1 << iota
	// Accumulate adds the outputs to what C holds instead of replacing it.
	Accumulate
)

// Reference is the product of the package doc written as the plain loops
// it means, on unpacked operands: w is k×n row-major, a is m rows of
// stride lda, shift the activations' offset. The kernels must match it
// bit for bit; it is for tests.
func Reference(m, n, k int, a []uint8, lda int, shift int32, as []float32, w []int8, ws, bias []float32, c []float32, ldc int, f Flags) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var acc int32
			for r := 0; r < k; r++ {
				acc += (int32(a[i*lda+r]) - shift) * int32(w[r*n+j])
			}
			var b float32
			if bias != nil {
				b = bias[j]
			}
			c[i*ldc+j] = epilogue(acc, ws[j], as[i], b, c[i*ldc+j], f)
		}
	}
}

// epilogue is the float step shared by every kernel. The explicit
// float32 conversions forbid the compiler to fuse a multiply and an add
// (which the Go spec allows, and arm64 does), so every platform rounds
// as the assembly does.
func epilogue(acc int32, ws, as, bias, old float32, f Flags) float32 {
	v := float32(float32(acc) * ws)
	v = float32(v * as)
	v = float32(v + bias)
	if f&Accumulate != 0 {
		v = float32(v + old)
	}
	if f&ReLU != 0 {
		v = max(v, 0)
	}
	return v
}
