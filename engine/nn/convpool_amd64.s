//go:build !purego

#include "textflag.h"

// laneIdx is 0, 1, ..., 15: lane c of a pixel goes to plane c.
DATA laneIdx<>+0(SB)/4, $0
DATA laneIdx<>+4(SB)/4, $1
DATA laneIdx<>+8(SB)/4, $2
DATA laneIdx<>+12(SB)/4, $3
DATA laneIdx<>+16(SB)/4, $4
DATA laneIdx<>+20(SB)/4, $5
DATA laneIdx<>+24(SB)/4, $6
DATA laneIdx<>+28(SB)/4, $7
DATA laneIdx<>+32(SB)/4, $8
DATA laneIdx<>+36(SB)/4, $9
DATA laneIdx<>+40(SB)/4, $10
DATA laneIdx<>+44(SB)/4, $11
DATA laneIdx<>+48(SB)/4, $12
DATA laneIdx<>+52(SB)/4, $13
DATA laneIdx<>+56(SB)/4, $14
DATA laneIdx<>+60(SB)/4, $15
GLOBL laneIdx<>(SB), RODATA|NOPTR, $64

// func pool2CHW16(dst *float32, hw int, src *float32, ld, ho, wo int)
// 2×2 windows, stride 2, of rows of 16-float pixels (row y at src + y·ld
// floats) into 16 planes of hw floats (pixel oy·wo+ox of plane c gets lane
// c). The window's maximum is taken in the order and with the ties of
// qgemm.MaxPoolHWC: m = (next > m) ? next : m, VMAXPS m, next, m.
TEXT ·pool2CHW16(SB), NOSPLIT, $0-48
	MOVQ         dst+0(FP), DI
	MOVQ         hw+8(FP), AX
	MOVQ         src+16(FP), SI
	MOVQ         ld+24(FP), R8
	SHLQ         $2, R8             // row stride in bytes
	MOVQ         ho+32(FP), CX
	MOVQ         wo+40(FP), R11
	VPBROADCASTD AX, Z2
	VPMULLD      laneIdx<>(SB), Z2, Z2 // c·hw
row:
	MOVQ SI, R9
	LEAQ (SI)(R8*1), R10
	MOVQ R11, BX
pixel:
	VMOVUPS     (R9), Z0
	VMOVUPS     64(R9), Z1
	VMAXPS      Z0, Z1, Z0
	VMOVUPS     (R10), Z1
	VMAXPS      Z0, Z1, Z0
	VMOVUPS     64(R10), Z1
	VMAXPS      Z0, Z1, Z0
	KXNORW      K1, K1, K1
	VSCATTERDPS Z0, K1, (DI)(Z2*4)
	ADDQ        $128, R9
	ADDQ        $128, R10
	ADDQ        $4, DI
	DECQ        BX
	JNZ         pixel
	LEAQ (SI)(R8*2), SI
	DECQ CX
	JNZ  row
	VZEROUPPER
	RET
