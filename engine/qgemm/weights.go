package qgemm

import "fmt"

// MaxK bounds the depth of a product: k·255·127 must fit in an int32
// accumulator (with k = 65536 the worst case is 2.1e9 < 2^31).
const MaxK = 1 << 16

// Weights is an int8 matrix k×n packed for the kernels, with its scales
// and bias. It is read-only after Pack and safe for concurrent use.
type Weights struct {
	K, N   int
	kp, np int    // k rounded up to 4, n to 16
	data   []int8 // [kp/4][np][4]
	colSum []int32
	corr   [2][]int32 // −Shift·colSum for Shift 128 and 64 (padded to np)
	scale  []float32  // per column, padded to np
	bias   []float32  // per column, padded to np (zeros when none)
}

// Pack packs the k×n matrix whose element (r, j) is w[r*rs + j*cs]; scale
// has n per-column scales, bias n values or none.
func Pack(k, n int, w []int8, rs, cs int, scale, bias []float32) (*Weights, error) {
	if k <= 0 || n <= 0 || k > MaxK {
		return nil, fmt.Errorf("qgemm: %d×%d weights: k must be in 1..%d and n positive", k, n, MaxK)
	}
	if last := (k-1)*rs + (n-1)*cs; rs < 0 || cs < 0 || last >= len(w) {
		return nil, fmt.Errorf("qgemm: %d×%d weights with strides %d, %d need more than %d values", k, n, rs, cs, len(w))
	}
	if len(scale) != n || (bias != nil && len(bias) != n) {
		return nil, fmt.Errorf("qgemm: %d columns but %d scales and %d biases", n, len(scale), len(bias))
	}
	p := &Weights{K: k, N: n, kp: (k + 3) &^ 3, np: (n + 15) &^ 15}
	p.data = make([]int8, p.kp*p.np)
	p.colSum = make([]int32, p.np)
	for r := 0; r < k; r++ {
		for j := 0; j < n; j++ {
			v := w[r*rs+j*cs]
			p.data[(r/4)*p.np*4+j*4+r%4] = v
			p.colSum[j] += int32(v)
		}
	}
	for i, shift := range [2]int32{128, 64} {
		p.corr[i] = make([]int32, p.np)
		for j, s := range p.colSum {
			p.corr[i][j] = -shift * s
		}
	}
	p.scale = make([]float32, p.np)
	copy(p.scale, scale)
	p.bias = make([]float32, p.np)
	copy(p.bias, bias)
	return p, nil
}

// KPadded is the row length QuantizeRows must write for these weights
// (k rounded up to 4): the smallest lda.
func (w *Weights) KPadded() int { return w.kp }

// Bytes is the memory the packed weights take.
func (w *Weights) Bytes() int { return len(w.data) + 4*(len(w.colSum)+2*w.np+len(w.scale)+len(w.bias)) }

func (w *Weights) corrFor(shift int32) []int32 {
	if shift == 64 {
		return w.corr[1]
	}
	return w.corr[0]
}
