//go:build !purego

#include "textflag.h"

// One k step of the 6×16 tile: two 8-float vectors of B's row, each row of A
// broadcast in turn (Y14/Y15 alternate so a broadcast does not wait on the
// previous row's FMAs), twelve FMAs into Y0..Y11 (row r in Y(2r), Y(2r+1)).
// SI points at A's rows 0..2 (stride R8), R9 at rows 3..5; R10 steps along k
// in A and R11 in B (DX).
#define STEP \
	VMOVUPS      (DX), Y12; \
	VMOVUPS      32(DX), Y13; \
	VBROADCASTSS (SI), Y14; \
	VFMADD231PS  Y12, Y14, Y0; \
	VFMADD231PS  Y13, Y14, Y1; \
	VBROADCASTSS (SI)(R8*1), Y15; \
	VFMADD231PS  Y12, Y15, Y2; \
	VFMADD231PS  Y13, Y15, Y3; \
	VBROADCASTSS (SI)(R8*2), Y14; \
	VFMADD231PS  Y12, Y14, Y4; \
	VFMADD231PS  Y13, Y14, Y5; \
	VBROADCASTSS (R9), Y15; \
	VFMADD231PS  Y12, Y15, Y6; \
	VFMADD231PS  Y13, Y15, Y7; \
	VBROADCASTSS (R9)(R8*1), Y14; \
	VFMADD231PS  Y12, Y14, Y8; \
	VFMADD231PS  Y13, Y14, Y9; \
	VBROADCASTSS (R9)(R8*2), Y15; \
	VFMADD231PS  Y12, Y15, Y10; \
	VFMADD231PS  Y13, Y15, Y11; \
	ADDQ         R10, SI; \
	ADDQ         R10, R9; \
	ADDQ         R11, DX

// C row = alpha·acc + beta·C (Y14 = alpha, Y15 = beta), then next row.
#define STOREBETA(lo, hi) \
	VMULPS      Y14, lo, lo; \
	VFMADD231PS (DI), Y15, lo; \
	VMOVUPS     lo, (DI); \
	VMULPS      Y14, hi, hi; \
	VFMADD231PS 32(DI), Y15, hi; \
	VMOVUPS     hi, 32(DI); \
	ADDQ        R12, DI

// C row = alpha·acc, C not read.
#define STORE(lo, hi) \
	VMULPS  Y14, lo, lo; \
	VMOVUPS lo, (DI); \
	VMULPS  Y14, hi, hi; \
	VMOVUPS hi, 32(DI); \
	ADDQ    R12, DI

// func kernAVX2(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int)
TEXT ·kernAVX2(SB), NOSPLIT, $0-80
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R10
	SHLQ $2, R10
	MOVQ b+32(FP), DX
	MOVQ rsB+40(FP), R11
	SHLQ $2, R11
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), R12
	SHLQ $2, R12
	LEAQ (R8)(R8*2), R9
	ADDQ SI, R9

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	// Four steps per iteration, then the remainder one by one.
	MOVQ CX, BX
	SHRQ $2, BX
	JZ   tail

loop4:
	STEP
	STEP
	STEP
	STEP
	DECQ BX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	STEP
	DECQ CX
	JNZ  loop1

store:
	VBROADCASTSS alpha+64(FP), Y14
	MOVQ         loadC+72(FP), AX
	TESTQ        AX, AX
	JZ           nobeta
	VBROADCASTSS beta+68(FP), Y15
	STOREBETA(Y0, Y1)
	STOREBETA(Y2, Y3)
	STOREBETA(Y4, Y5)
	STOREBETA(Y6, Y7)
	STOREBETA(Y8, Y9)
	STOREBETA(Y10, Y11)
	VZEROUPPER
	RET

nobeta:
	STORE(Y0, Y1)
	STORE(Y2, Y3)
	STORE(Y4, Y5)
	STORE(Y6, Y7)
	STORE(Y8, Y9)
	STORE(Y10, Y11)
	VZEROUPPER
	RET

// C row = alpha·acc (already applied) + beta·C (Y14 = beta) over the columns
// whose mask lanes (Y12, Y13) are set; Y15 is scratch. C is read and written
// only under the mask, so the tile may end at the edge of C's slice.
#define EDGEBETA(lo, hi) \
	VMASKMOVPS  (DI), Y12, Y15; \
	VFMADD231PS Y15, Y14, lo; \
	VMASKMOVPS  lo, Y12, (DI); \
	VMASKMOVPS  32(DI), Y13, Y15; \
	VFMADD231PS Y15, Y14, hi; \
	VMASKMOVPS  hi, Y13, 32(DI); \
	ADDQ        R12, DI; \
	DECQ        BX; \
	JZ          edgedone

#define EDGESTORE(lo, hi) \
	VMASKMOVPS lo, Y12, (DI); \
	VMASKMOVPS hi, Y13, 32(DI); \
	ADDQ       R12, DI; \
	DECQ       BX; \
	JZ         edgedone

// func kernAVX2Edge(k int, a *float32, rsA, csA int, b *float32, rsB int, c *float32, ldc int, alpha, beta float32, loadC int, rows int, mask *int32)
// As kernAVX2, but stores only the first rows (1..6) rows of the tile and the
// columns selected by the 16 int32 lanes at mask (all ones = store).
TEXT ·kernAVX2Edge(SB), NOSPLIT, $0-96
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsA+16(FP), R8
	SHLQ $2, R8
	MOVQ csA+24(FP), R10
	SHLQ $2, R10
	MOVQ b+32(FP), DX
	MOVQ rsB+40(FP), R11
	SHLQ $2, R11
	MOVQ c+48(FP), DI
	MOVQ ldc+56(FP), R12
	SHLQ $2, R12
	LEAQ (R8)(R8*2), R9
	ADDQ SI, R9

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   etail

eloop4:
	STEP
	STEP
	STEP
	STEP
	DECQ BX
	JNZ  eloop4

etail:
	ANDQ $3, CX
	JZ   escale

eloop1:
	STEP
	DECQ CX
	JNZ  eloop1

escale:
	VBROADCASTSS alpha+64(FP), Y14
	VMULPS       Y14, Y0, Y0
	VMULPS       Y14, Y1, Y1
	VMULPS       Y14, Y2, Y2
	VMULPS       Y14, Y3, Y3
	VMULPS       Y14, Y4, Y4
	VMULPS       Y14, Y5, Y5
	VMULPS       Y14, Y6, Y6
	VMULPS       Y14, Y7, Y7
	VMULPS       Y14, Y8, Y8
	VMULPS       Y14, Y9, Y9
	VMULPS       Y14, Y10, Y10
	VMULPS       Y14, Y11, Y11
	MOVQ         mask+88(FP), AX
	VMOVDQU      (AX), Y12
	VMOVDQU      32(AX), Y13
	MOVQ         rows+80(FP), BX
	MOVQ         loadC+72(FP), AX
	TESTQ        AX, AX
	JZ           enobeta
	VBROADCASTSS beta+68(FP), Y14
	EDGEBETA(Y0, Y1)
	EDGEBETA(Y2, Y3)
	EDGEBETA(Y4, Y5)
	EDGEBETA(Y6, Y7)
	EDGEBETA(Y8, Y9)
	EDGEBETA(Y10, Y11)
	JMP          edgedone

enobeta:
	EDGESTORE(Y0, Y1)
	EDGESTORE(Y2, Y3)
	EDGESTORE(Y4, Y5)
	EDGESTORE(Y6, Y7)
	EDGESTORE(Y8, Y9)
	EDGESTORE(Y10, Y11)

edgedone:
	VZEROUPPER
	RET
