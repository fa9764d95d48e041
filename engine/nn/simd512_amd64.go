//go:build !purego

package nn

// The kernels here run where haveAVX512 (lstm_amd64.go) is set; callers
// also check haveAVX2 so that tests which switch it off get the Go loops.

// adamAVX512 is adamAVX2 on 16 lanes for the first n&^15 elements, the
// same bits. The divide and square root are the loop's limit; one
// instruction for 16 lanes halves the loads, stores, multiplies and
// loop overhead around them.
//
//go:noescape
func adamAVX512(p, grad, m, v *float32, n int, c *[10]float32)

// expShiftAVX512: dst[i] = exp32(src[i] - m) for i < n, the same bits as
// the Go function (16 lanes at a time, the tail under a mask).
//
//go:noescape
func expShiftAVX512(dst, src *float32, n int, m float32)
