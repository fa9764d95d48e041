//go:build !purego

#include "textflag.h"

// The 6×32 AVX-512 tile: two 16-column panels of B (at DX and BX, same
// stride R11) against 6 rows of A (at SI and R9 = SI+3·R8, stride R8; R10
// steps along k). Each k step loads 2 B vectors and broadcasts 6 A values
// for 12 FMAs, where the 12×16 tile needs 13 loads for its 12 FMAs and so
// waits on the two load ports. Z0..Z5 are the rows of the first panel,
// Z6..Z11 of the second. Each element gets one FMA per k in order, then the
// alpha/beta step of kernAVX512.
#define STEPW \
	VMOVUPS          (DX), Z12; \
	VMOVUPS          (BX), Z13; \
	VBROADCASTSS     (SI), Z14; \
	VBROADCASTSS     (SI)(R8*1), Z15; \
	VBROADCASTSS     (SI)(R8*2), Z16; \
	VBROADCASTSS     (R9), Z17; \
	VBROADCASTSS     (R9)(R8*1), Z18; \
	VBROADCASTSS     (R9)(R8*2), Z19; \
	VFMADD231PS      Z12, Z14, Z0; \
	VFMADD231PS      Z13, Z14, Z6; \
	VFMADD231PS      Z12, Z15, Z1; \
	VFMADD231PS      Z13, Z15, Z7; \
	VFMADD231PS      Z12, Z16, Z2; \
	VFMADD231PS      Z13, Z16, Z8; \
	VFMADD231PS      Z12, Z17, Z3; \
	VFMADD231PS      Z13, Z17, Z9; \
	VFMADD231PS      Z12, Z18, Z4; \
	VFMADD231PS      Z13, Z18, Z10; \
	VFMADD231PS      Z12, Z19, Z5; \
	VFMADD231PS      Z13, Z19, Z11; \
	ADDQ             R10, SI; \
	ADDQ             R10, R9; \
	ADDQ             R11, DX; \
	ADDQ             R11, BX

#define STOREWBETA(r, off) \
	VMULPS      Z30, r, r; \
	VFMADD231PS off(DI), Z31, r; \
	VMOVUPS     r, off(DI)

#define STOREW(r, off) \
	VMULPS  Z30, r, r; \
	VMOVUPS r, off(DI)

// func kernAVX512Wide(k int, a *float32, rsA, csA int, b0, b1 *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·kernAVX512Wide(SB), NOSPLIT, $0-88
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R10
	SHLQ $2, R10
	MOVQ b0+32(FP), DX
	MOVQ b1+40(FP), BX
	MOVQ rsB+48(FP), R11
	SHLQ $2, R11
	LEAQ (R8)(R8*2), R9
	ADDQ SI, R9
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11

	MOVQ CX, R12
	SHRQ $2, R12
	JZ   tailw

loopw:
	STEPW
	STEPW
	STEPW
	STEPW
	DECQ R12
	JNZ  loopw

tailw:
	ANDQ $3, CX
	JZ   storew

loopwone:
	STEPW
	DECQ CX
	JNZ  loopwone

storew:
	MOVQ         c+56(FP), DI
	MOVQ         ldc+64(FP), R12
	SHLQ         $2, R12
	VBROADCASTSS alpha+72(FP), Z30
	MOVQ         loadC+80(FP), AX
	TESTQ        AX, AX
	JZ           nobetaw
	VBROADCASTSS beta+76(FP), Z31
	STOREWBETA(Z0, 0)
	STOREWBETA(Z6, 64)
	ADDQ R12, DI
	STOREWBETA(Z1, 0)
	STOREWBETA(Z7, 64)
	ADDQ R12, DI
	STOREWBETA(Z2, 0)
	STOREWBETA(Z8, 64)
	ADDQ R12, DI
	STOREWBETA(Z3, 0)
	STOREWBETA(Z9, 64)
	ADDQ R12, DI
	STOREWBETA(Z4, 0)
	STOREWBETA(Z10, 64)
	ADDQ R12, DI
	STOREWBETA(Z5, 0)
	STOREWBETA(Z11, 64)
	ADDQ R12, DI
	VZEROUPPER
	RET

nobetaw:
	STOREW(Z0, 0)
	STOREW(Z6, 64)
	ADDQ R12, DI
	STOREW(Z1, 0)
	STOREW(Z7, 64)
	ADDQ R12, DI
	STOREW(Z2, 0)
	STOREW(Z8, 64)
	ADDQ R12, DI
	STOREW(Z3, 0)
	STOREW(Z9, 64)
	ADDQ R12, DI
	STOREW(Z4, 0)
	STOREW(Z10, 64)
	ADDQ R12, DI
	STOREW(Z5, 0)
	STOREW(Z11, 64)
	ADDQ R12, DI
	VZEROUPPER
	RET
