//go:build !purego

#include "textflag.h"

// Matrix-vector products for C = alpha·x·B + beta·C with one row x (a
// batch of one): y[j] = Σ_l x[l·incx]·B[l, j] over 128 (gemv128AVX512) or
// 16 (gemv16AVX512) columns, one FMA chain per 16 columns walking k in
// order and the same alpha/beta epilogue as kernAVX512, so each element
// gets the bits the tiled kernels would give it. The 12×16 tile spends 11
// of its 12 rows on nothing for such a product.

// func gemv128AVX512(k int, x *float32, incx int, b *float32, ldb int, y *float32, alpha, beta float32, loadC int)
TEXT ·gemv128AVX512(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ incx+16(FP), R8
	SHLQ $2, R8
	MOVQ b+24(FP), DX
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11
	MOVQ y+40(FP), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7

gemv128AVX512_loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS  (DX), Z8, Z0
	VFMADD231PS  64(DX), Z8, Z1
	VFMADD231PS  128(DX), Z8, Z2
	VFMADD231PS  192(DX), Z8, Z3
	VFMADD231PS  256(DX), Z8, Z4
	VFMADD231PS  320(DX), Z8, Z5
	VFMADD231PS  384(DX), Z8, Z6
	VFMADD231PS  448(DX), Z8, Z7
	ADDQ         R8, SI
	ADDQ         R11, DX
	DECQ         CX
	JNZ          gemv128AVX512_loop

	VBROADCASTSS alpha+48(FP), Z30
	VMULPS       Z30, Z0, Z0
	VMULPS       Z30, Z1, Z1
	VMULPS       Z30, Z2, Z2
	VMULPS       Z30, Z3, Z3
	VMULPS       Z30, Z4, Z4
	VMULPS       Z30, Z5, Z5
	VMULPS       Z30, Z6, Z6
	VMULPS       Z30, Z7, Z7
	MOVQ         loadC+56(FP), AX
	TESTQ        AX, AX
	JZ           gemv128AVX512_store
	VBROADCASTSS beta+52(FP), Z31
	VFMADD231PS  (DI), Z31, Z0
	VFMADD231PS  64(DI), Z31, Z1
	VFMADD231PS  128(DI), Z31, Z2
	VFMADD231PS  192(DI), Z31, Z3
	VFMADD231PS  256(DI), Z31, Z4
	VFMADD231PS  320(DI), Z31, Z5
	VFMADD231PS  384(DI), Z31, Z6
	VFMADD231PS  448(DI), Z31, Z7

gemv128AVX512_store:
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	VMOVUPS      Z4, 256(DI)
	VMOVUPS      Z5, 320(DI)
	VMOVUPS      Z6, 384(DI)
	VMOVUPS      Z7, 448(DI)
	VZEROUPPER
	RET

// func gemv16AVX512(k int, x *float32, incx int, b *float32, ldb int, y *float32, alpha, beta float32, loadC int)
TEXT ·gemv16AVX512(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ incx+16(FP), R8
	SHLQ $2, R8
	MOVQ b+24(FP), DX
	MOVQ ldb+32(FP), R11
	SHLQ $2, R11
	MOVQ y+40(FP), DI
	VPXORD Z0, Z0, Z0

gemv16AVX512_loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS  (DX), Z8, Z0
	ADDQ         R8, SI
	ADDQ         R11, DX
	DECQ         CX
	JNZ          gemv16AVX512_loop

	VBROADCASTSS alpha+48(FP), Z30
	VMULPS       Z30, Z0, Z0
	MOVQ         loadC+56(FP), AX
	TESTQ        AX, AX
	JZ           gemv16AVX512_store
	VBROADCASTSS beta+52(FP), Z31
	VFMADD231PS  (DI), Z31, Z0

gemv16AVX512_store:
	VMOVUPS      Z0, (DI)
	VZEROUPPER
	RET
