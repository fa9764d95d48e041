package nn

import "math"

// exp32 is a Cephes-style expf in plain float32 arithmetic: range
// reduction by ln 2 and a degree-5 polynomial, within about 2 ulp. It
// measured about 1.7x the throughput of float32(math.Exp(float64(x)))
// (CPU time, shared machine), and the LSTM spends much of its element-wise
// time in it. It is written to fit the compiler's inlining budget (cost 80 of 80):
// hot loops call it directly so that it inlines there.
func exp32(x float32) float32 {
	// Clamp without branches: results saturate at e^-87.3 and e^88.3
	// (sigmoid and tanh need no more); NaN stays NaN.
	x = min(max(x, -87.3), 88.3)
	// n = floor(x·log2e + 0.5), kept positive before the truncating cast;
	// r = x - n·ln2 with ln2 split in two for precision.
	fn := float32(int32(x*1.44269504088896341+128.5) - 128)
	r := x - fn*0.693359375 - fn*-2.12194440e-4
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	// 2^n built from its exponent bits, n+127 in 1..254.
	return (p*r*r + r + 1) * math.Float32frombits(uint32(fn+127)<<23)
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// sigmoid32 is stable for any x: exp32 saturates to 0 or +Inf, and
// 1/(1+Inf) is 0. No branch on the sign, which mispredicts on real data.
func sigmoid32(x float32) float32 { return 1 / (1 + exp32(-x)) }

// tanh32 is 1 - 2/(exp(2x)+1); it saturates to ±1 the same way. Near 0
// its absolute error is about one float32 ulp of 1, which is all the LSTM
// needs.
func tanh32(x float32) float32 { return 1 - 2/(exp32(2*x)+1) }

// grow returns buf resized to n, reallocating only when its capacity is
// too small, so that steady-state steps do not allocate.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

func growInt32(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	return buf[:n]
}
