package quant

import "math"

// Levels is the largest code of the symmetric int8 range [-Levels, Levels].
const Levels = 127

// MaxAbs returns the largest |x[i]|, and false when x holds a NaN or an
// infinity (then the magnitude is meaningless).
func MaxAbs(x []float32) (m float32, finite bool) {
	for _, v := range x {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return 0, false
		}
		m = max(m, float32(math.Abs(float64(v))))
	}
	return m, true
}

// Scale is the symmetric scale of values whose largest magnitude is
// maxAbs: maxAbs/127, so that the largest value gets code ±127. It is 0
// for an all-zero group, whose codes are all 0.
func Scale(maxAbs float32) float32 { return maxAbs / Levels }

// Round returns the code of v under scale: round(v/scale) (halves away
// from zero) clamped to [-127, 127], and 0 when scale is 0 or not a
// positive finite number.
func Round(v, scale float32) int8 {
	if !(scale > 0) || scale > math.MaxFloat32 {
		return 0
	}
	f := math.Round(float64(v) / float64(scale))
	return int8(max(-Levels, min(Levels, f)))
}

// Symmetric quantizes x into q (len(q) >= len(x)) with one scale and
// returns it. For x with a NaN or an infinity it returns NaN and zero codes.
func Symmetric(q []int8, x []float32) float32 {
	m, ok := MaxAbs(x)
	if !ok {
		clear(q[:len(x)])
		return float32(math.NaN())
	}
	s := Scale(m)
	for i, v := range x {
		q[i] = Round(v, s)
	}
	return s
}

// Dequantize writes q[i]·scale into x.
func Dequantize(x []float32, q []int8, scale float32) {
	q = q[:len(x)]
	for i, c := range q {
		x[i] = float32(c) * scale
	}
}
