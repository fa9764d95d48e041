package qgemm

import "math"

// Activations are quantized on the hot path, per row of a product (one
// sample of a dense layer, one image of a convolution), with the scale
// rule of engine/quant: the row's largest magnitude maps to ±Levels. A
// row's scale depends on that row only, so a sample's answer does not
// change with the samples it is batched with (a server's dynamic batching
// must not change results). Rounding is to nearest even, what the AVX-512
// conversion does, so the Go loop and the assembly give the same codes.

// MaxAbs returns the largest |x[i]| (0 for an empty x). NaNs are not
// looked for: activations of a model with finite weights and inputs are
// finite.
func MaxAbs(x []float32) float32 {
	if useAsmActs && len(x) > 0 {
		return maxAbs512(&x[0], len(x))
	}
	var m float32
	for _, v := range x {
		m = max(m, math.Float32frombits(math.Float32bits(v)&0x7fffffff))
	}
	return m
}

// RowScale returns the scale of a row whose largest magnitude is m, and
// the factor (1/scale) that QuantizeTo multiplies by: 0 for an all-zero
// row, whose codes are all Shift.
func RowScale(m float32) (scale, inv float32) {
	if !(m > 0) {
		return 0, 0
	}
	l := float32(Levels())
	return m / l, l / m
}

// QuantizeTo writes the codes of x under inv (from RowScale) into dst.
func QuantizeTo(dst []uint8, x []float32, inv float32) {
	dst = dst[:len(x)]
	lv, sh := Levels(), Shift()
	if useAsmActs && len(x) > 0 {
		quant512(&dst[0], &x[0], len(x), inv, sh, lv)
		return
	}
	for i := range x {
		dst[i] = code(x[i], inv, lv, sh)
	}
}

func code(v, inv float32, levels, shift int32) uint8 {
	q := int32(math.RoundToEven(float64(float32(v * inv))))
	return uint8(max(-levels, min(levels, q)) + shift)
}

// QuantizeRows quantizes m rows of k floats (row i at src[i*lds:]) into
// dst (row i at dst[i*ldd:], ldd >= k rounded up to 4, the padding set to
// Shift, the code of 0) and their scales into as.
func QuantizeRows(dst []uint8, ldd int, src []float32, lds, m, k int, as []float32) {
	kp := (k + 3) &^ 3
	sh := uint8(Shift())
	for i := 0; i < m; i++ {
		row := src[i*lds : i*lds+k]
		s, inv := RowScale(MaxAbs(row))
		as[i] = s
		d := dst[i*ldd : i*ldd+kp]
		QuantizeTo(d, row, inv)
		for j := k; j < kp; j++ {
			d[j] = sh
		}
	}
}
