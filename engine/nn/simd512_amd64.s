//go:build !purego

#include "textflag.h"

// func adamAVX512(p, grad, m, v *float32, n int, c *[10]float32)
// adamAVX2 on 16 lanes, for n a multiple of 16: the same operations in the
// same order (no FMAs), so the same bits. Flushes use a compare into a mask
// register and a zeroing move: compare with "not less than, unordered"
// (0x15), the complement of adamAVX2's "less than, ordered" (0x11), so a
// NaN is kept, as there.
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), DX
	MOVQ         v+24(FP), R8
	MOVQ         n+32(FP), CX
	MOVQ         c+40(FP), AX
	VBROADCASTSS 0(AX), Z8
	VBROADCASTSS 4(AX), Z9
	VBROADCASTSS 8(AX), Z10
	VBROADCASTSS 12(AX), Z11
	VBROADCASTSS 16(AX), Z12
	VBROADCASTSS 20(AX), Z13
	VBROADCASTSS 24(AX), Z14
	VBROADCASTSS 28(AX), Z16
	VBROADCASTSS 32(AX), Z17
	VBROADCASTSS 36(AX), Z18
	VPTERNLOGD   $0xff, Z15, Z15, Z15
	VPSRLD       $1, Z15, Z15
	SHRQ         $4, CX
	JZ           adam512Done

adam512Loop:
	// g = |g| < flushGrad ? 0 : g
	VMOVUPS   (SI), Z0
	VANDPS    Z15, Z0, Z1
	VCMPPS    $0x15, Z16, Z1, K1
	VMOVAPS.Z Z0, K1, Z0

	// m' = b1·m + (1-b1)·g; v' = b2·v + ((1-b2)·g)·g
	VMULPS (DX), Z8, Z2
	VMULPS Z0, Z9, Z3
	VADDPS Z3, Z2, Z2
	VMULPS Z0, Z11, Z4
	VMULPS Z0, Z4, Z4
	VMULPS (R8), Z10, Z5
	VADDPS Z4, Z5, Z5

	// flush the moments
	VANDPS    Z15, Z2, Z6
	VCMPPS    $0x15, Z17, Z6, K2
	VMOVAPS.Z Z2, K2, Z2
	VCMPPS    $0x15, Z18, Z5, K3
	VMOVAPS.Z Z5, K3, Z5
	VMOVUPS   Z2, (DX)
	VMOVUPS   Z5, (R8)

	// p -= step·m' / (sqrt(v')·invSqrtBC2 + eps)
	VSQRTPS Z5, Z6
	VMULPS  Z13, Z6, Z6
	VADDPS  Z14, Z6, Z6
	VMULPS  Z12, Z2, Z7
	VDIVPS  Z6, Z7, Z7
	VMOVUPS (DI), Z1
	VSUBPS  Z7, Z1, Z1
	VMOVUPS Z1, (DI)

	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, R8
	DECQ CX
	JNZ  adam512Loop

adam512Done:
	VZEROUPPER
	RET
