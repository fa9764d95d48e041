package gemm

// kernGo is the portable micro-kernel with the contract of kernel. It works
// on 2×4 sub-tiles so that the eight accumulators stay in registers.
func kernGo(k int, a []float32, rsA, csA int, b []float32, rsB int, c []float32, ldc int, alpha, beta float32) {
	for i := 0; i < mr; i += 2 {
		a0 := a[i*rsA:]
		a1 := a[(i+1)*rsA:]
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			ia, ib := 0, j
			for l := 0; l < k; l++ {
				bl := b[ib : ib+4 : ib+4]
				x0, x1 := a0[ia], a1[ia]
				b0, b1, b2, b3 := bl[0], bl[1], bl[2], bl[3]
				c00 += x0 * b0
				c01 += x0 * b1
				c02 += x0 * b2
				c03 += x0 * b3
				c10 += x1 * b0
				c11 += x1 * b1
				c12 += x1 * b2
				c13 += x1 * b3
				ia += csA
				ib += rsB
			}
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4 : (i+1)*ldc+j+4]
			if beta == 0 {
				r0[0], r0[1], r0[2], r0[3] = alpha*c00, alpha*c01, alpha*c02, alpha*c03
				r1[0], r1[1], r1[2], r1[3] = alpha*c10, alpha*c11, alpha*c12, alpha*c13
			} else {
				r0[0] = alpha*c00 + beta*r0[0]
				r0[1] = alpha*c01 + beta*r0[1]
				r0[2] = alpha*c02 + beta*r0[2]
				r0[3] = alpha*c03 + beta*r0[3]
				r1[0] = alpha*c10 + beta*r1[0]
				r1[1] = alpha*c11 + beta*r1[1]
				r1[2] = alpha*c12 + beta*r1[2]
				r1[3] = alpha*c13 + beta*r1[3]
			}
		}
	}
}
