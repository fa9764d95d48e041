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

// BCAST sets Z register z to 16 copies of the 32-bit constant c.
#define BCAST(c, z) \
	MOVL         c, AX \
	VPBROADCASTD AX, z

// EXPSHIFT sets Z0 = exp32(Z0 - Z1) in exp32's operations and order (no
// FMA; see mathf.go), with the constants of expShiftAVX512 in Z16-Z30.
// Both clamps keep a NaN (the NaN operand is the instruction's second
// source), as Go's min and max do.
#define EXPSHIFT \
	VSUBPS     Z1, Z0, Z0  \
	VMAXPS     Z0, Z16, Z0 \
	VMINPS     Z0, Z17, Z0 \
	VMULPS     Z18, Z0, Z2 \
	VADDPS     Z19, Z2, Z2 \
	VCVTTPS2DQ Z2, Z2      \
	VPSUBD     Z30, Z2, Z2 \
	VCVTDQ2PS  Z2, Z2      \
	VMULPS     Z20, Z2, Z3 \
	VSUBPS     Z3, Z0, Z3  \
	VMULPS     Z21, Z2, Z4 \
	VSUBPS     Z4, Z3, Z3  \
	VMULPS     Z22, Z3, Z4 \
	VADDPS     Z23, Z4, Z4 \
	VMULPS     Z3, Z4, Z4  \
	VADDPS     Z24, Z4, Z4 \
	VMULPS     Z3, Z4, Z4  \
	VADDPS     Z25, Z4, Z4 \
	VMULPS     Z3, Z4, Z4  \
	VADDPS     Z26, Z4, Z4 \
	VMULPS     Z3, Z4, Z4  \
	VADDPS     Z27, Z4, Z4 \
	VMULPS     Z3, Z4, Z4  \
	VMULPS     Z3, Z4, Z4  \
	VADDPS     Z3, Z4, Z4  \
	VADDPS     Z28, Z4, Z4 \
	VADDPS     Z29, Z2, Z2 \
	VCVTTPS2DQ Z2, Z2      \
	VPSLLD     $23, Z2, Z2 \
	VMULPS     Z2, Z4, Z0

// func expShiftAVX512(dst, src *float32, n int, m float32)
// dst[i] = exp32(src[i] - m) for i < n, 16 lanes at a time and the tail
// under a mask.
TEXT ·expShiftAVX512(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS m+24(FP), Z1
	BCAST($0xc2ae999a, Z16) // -87.3
	BCAST($0x42b0999a, Z17) // 88.3
	BCAST($0x3fb8aa3b, Z18) // log2(e)
	BCAST($0x43008000, Z19) // 128.5
	BCAST($0x3f318000, Z20) // ln 2, high part
	BCAST($0xb95e8083, Z21) // ln 2, low part (negative)
	BCAST($0x39506967, Z22) // polynomial, highest degree first
	BCAST($0x3ab743ce, Z23)
	BCAST($0x3c088908, Z24)
	BCAST($0x3d2aa9c1, Z25)
	BCAST($0x3e2aaaaa, Z26)
	BCAST($0x3f000000, Z27)
	BCAST($0x3f800000, Z28) // 1
	BCAST($0x42fe0000, Z29) // 127
	BCAST($0x00000080, Z30) // int32 128

exp16:
	CMPQ    CX, $16
	JLT     expTail
	VMOVUPS (SI), Z0
	EXPSHIFT
	VMOVUPS Z0, (DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     exp16

expTail:
	TESTQ     CX, CX
	JZ        expDone
	MOVQ      $1, AX
	SHLQ      CX, AX
	DECQ      AX
	KMOVW     AX, K1
	VMOVUPS.Z (SI), K1, Z0
	EXPSHIFT
	VMOVUPS   Z0, K1, (DI)

expDone:
	VZEROUPPER
	RET
