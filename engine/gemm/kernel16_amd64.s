//go:build !purego

#include "textflag.h"

// The 16×16 AVX-512 tile, for products with 16·j rows that 12-row tiles
// would leave 4 or 8 rows short of (the cnn's 16 and 32 filters, batches of
// 64 and 256): sixteen 16-lane accumulators, each k step one row of B in
// Z16 and one FMA per row of A with the A element broadcast from memory.
// Rows 0..5 of A are at SI (stride R8) and R9 (= SI+3·R8), rows 6..11 at
// R13 and R14, rows 12..15 at AX and BX likewise; R10 steps along k in A,
// R11 in B (DX). The arithmetic of each element (one FMA per k in order,
// then the alpha/beta step) is that of kernAVX512.
#define STEP16 \
	VMOVUPS          (DX), Z16; \
	VFMADD231PS.BCST (SI), Z16, Z0; \
	VFMADD231PS.BCST (SI)(R8*1), Z16, Z1; \
	VFMADD231PS.BCST (SI)(R8*2), Z16, Z2; \
	VFMADD231PS.BCST (R9), Z16, Z3; \
	VFMADD231PS.BCST (R9)(R8*1), Z16, Z4; \
	VFMADD231PS.BCST (R9)(R8*2), Z16, Z5; \
	VFMADD231PS.BCST (R13), Z16, Z6; \
	VFMADD231PS.BCST (R13)(R8*1), Z16, Z7; \
	VFMADD231PS.BCST (R13)(R8*2), Z16, Z8; \
	VFMADD231PS.BCST (R14), Z16, Z9; \
	VFMADD231PS.BCST (R14)(R8*1), Z16, Z10; \
	VFMADD231PS.BCST (R14)(R8*2), Z16, Z11; \
	VFMADD231PS.BCST (AX), Z16, Z12; \
	VFMADD231PS.BCST (AX)(R8*1), Z16, Z13; \
	VFMADD231PS.BCST (AX)(R8*2), Z16, Z14; \
	VFMADD231PS.BCST (BX), Z16, Z15; \
	ADDQ             R10, SI; \
	ADDQ             R10, R9; \
	ADDQ             R10, R13; \
	ADDQ             R10, R14; \
	ADDQ             R10, AX; \
	ADDQ             R10, BX; \
	ADDQ             R11, DX
#define STORE16BETA(r) \
	VMULPS      Z30, r, r; \
	VFMADD231PS (DI), Z31, r; \
	VMOVUPS     r, (DI); \
	ADDQ        R12, DI

#define STORE16(r) \
	VMULPS  Z30, r, r; \
	VMOVUPS r, (DI); \
	ADDQ    R12, DI

// func kernAVX512x16(k int, a0, a1, a2 *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·kernAVX512x16(SB), NOSPLIT, $0-96
	MOVQ k+0(FP), CX
	MOVQ a0+8(FP), SI
	MOVQ a1+16(FP), R13
	MOVQ a2+24(FP), AX
	MOVQ rsA+32(FP), R8
	SHLQ $2, R8
	MOVQ csA+40(FP), R10
	SHLQ $2, R10
	MOVQ b+48(FP), DX
	MOVQ rsB+56(FP), R11
	SHLQ $2, R11
	LEAQ (R8)(R8*2), R9
	LEAQ (R13)(R9*1), R14
	LEAQ (AX)(R9*1), BX
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
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15

	MOVQ CX, R12
	SHRQ $2, R12
	JZ   tail16

loop16:
	STEP16
	STEP16
	STEP16
	STEP16
	DECQ R12
	JNZ  loop16

tail16:
	ANDQ $3, CX
	JZ   store16

loop16one:
	STEP16
	DECQ CX
	JNZ  loop16one

store16:
	MOVQ         c+64(FP), DI
	MOVQ         ldc+72(FP), R12
	SHLQ         $2, R12
	VBROADCASTSS alpha+80(FP), Z30
	MOVQ         loadC+88(FP), AX
	TESTQ        AX, AX
	JZ           nobeta16
	VBROADCASTSS beta+84(FP), Z31
	STORE16BETA(Z0)
	STORE16BETA(Z1)
	STORE16BETA(Z2)
	STORE16BETA(Z3)
	STORE16BETA(Z4)
	STORE16BETA(Z5)
	STORE16BETA(Z6)
	STORE16BETA(Z7)
	STORE16BETA(Z8)
	STORE16BETA(Z9)
	STORE16BETA(Z10)
	STORE16BETA(Z11)
	STORE16BETA(Z12)
	STORE16BETA(Z13)
	STORE16BETA(Z14)
	STORE16BETA(Z15)
	VZEROUPPER
	RET

nobeta16:
	STORE16(Z0)
	STORE16(Z1)
	STORE16(Z2)
	STORE16(Z3)
	STORE16(Z4)
	STORE16(Z5)
	STORE16(Z6)
	STORE16(Z7)
	STORE16(Z8)
	STORE16(Z9)
	STORE16(Z10)
	STORE16(Z11)
	STORE16(Z12)
	STORE16(Z13)
	STORE16(Z14)
	STORE16(Z15)
	VZEROUPPER
	RET
