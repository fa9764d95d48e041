package nn

// expShift sets dst[i] = exp32(src[i] - m): softmax's exps with the row's
// maximum m taken out. The AVX-512 kernel gives the same bits as the Go
// loop (TestExpShiftMatchesGo) several times faster; the exps were most of
// the mlp's loss time.
func expShift(dst, src []float32, m float32) {
	src = src[:len(dst)]
	if haveAVX2 && haveAVX512 && len(dst) > 0 {
		expShiftAVX512(&dst[0], &src[0], len(dst), m)
		return
	}
	for i, v := range src {
		dst[i] = exp32(v - m)
	}
}
