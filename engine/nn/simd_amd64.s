//go:build !purego

#include "textflag.h"

// Element-wise kernels for the conv net and Adam (see simd_amd64.go).
// Plain AVX2, no FMA: each result is rounded exactly as the Go loop that
// it replaces rounds it (Go does not fuse multiply-adds on amd64).

// maskTab[8-j:] starts with j all-ones int32 lanes, then zeros.
DATA maskTab<>+0(SB)/4, $0xffffffff
DATA maskTab<>+4(SB)/4, $0xffffffff
DATA maskTab<>+8(SB)/4, $0xffffffff
DATA maskTab<>+12(SB)/4, $0xffffffff
DATA maskTab<>+16(SB)/4, $0xffffffff
DATA maskTab<>+20(SB)/4, $0xffffffff
DATA maskTab<>+24(SB)/4, $0xffffffff
DATA maskTab<>+28(SB)/4, $0xffffffff
DATA maskTab<>+32(SB)/4, $0
DATA maskTab<>+36(SB)/4, $0
DATA maskTab<>+40(SB)/4, $0
DATA maskTab<>+44(SB)/4, $0
DATA maskTab<>+48(SB)/4, $0
DATA maskTab<>+52(SB)/4, $0
DATA maskTab<>+56(SB)/4, $0
DATA maskTab<>+60(SB)/4, $0
GLOBL maskTab<>(SB), RODATA|NOPTR, $64

// laneOff: the input offset of each of 8 pooling windows, 2 apart.
DATA laneOff<>+0(SB)/4, $0
DATA laneOff<>+4(SB)/4, $2
DATA laneOff<>+8(SB)/4, $4
DATA laneOff<>+12(SB)/4, $6
DATA laneOff<>+16(SB)/4, $8
DATA laneOff<>+20(SB)/4, $10
DATA laneOff<>+24(SB)/4, $12
DATA laneOff<>+28(SB)/4, $14
GLOBL laneOff<>(SB), RODATA|NOPTR, $32

// func addToAVX2(dst, src *float32, n int)
TEXT ·addToAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

add32:
	CMPQ    CX, $32
	JLT     add8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VADDPS  (DI), Y0, Y0
	VADDPS  32(DI), Y1, Y1
	VADDPS  64(DI), Y2, Y2
	VADDPS  96(DI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     add32

add8:
	CMPQ    CX, $8
	JLT     add1
	VMOVUPS (SI), Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     add8

add1:
	TESTQ  CX, CX
	JZ     addDone
	VMOVSS (SI), X0
	VADDSS (DI), X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    add1

addDone:
	VZEROUPPER
	RET

// max(v, 0) as Go computes it: VMAXPS returns its second source (v) when
// both are zeros or one is NaN, so NaN stays NaN, and adding +0 turns a
// -0 into +0.
#define RELU(r) \
	VMAXPS r, Y14, r; \
	VADDPS Y14, r, r

// func biasReLUAVX2(dst, src *float32, n int, b float32)
TEXT ·biasReLUAVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS b+24(FP), Y15
	VXORPS       Y14, Y14, Y14

br32:
	CMPQ    CX, $32
	JLT     br8
	VADDPS  (SI), Y15, Y0
	VADDPS  32(SI), Y15, Y1
	VADDPS  64(SI), Y15, Y2
	VADDPS  96(SI), Y15, Y3
	RELU(Y0)
	RELU(Y1)
	RELU(Y2)
	RELU(Y3)
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     br32

br8:
	CMPQ    CX, $8
	JLT     br1
	VADDPS  (SI), Y15, Y0
	RELU(Y0)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     br8

br1:
	TESTQ  CX, CX
	JZ     brDone
	VADDSS (SI), X15, X0
	VMAXSS X0, X14, X0
	VADDSS X14, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    br1

brDone:
	VZEROUPPER
	RET

// func addReLUAVX2(dst, b *float32, n int)
TEXT ·addReLUAVX2(SB), NOSPLIT, $0-24
	MOVQ   dst+0(FP), DI
	MOVQ   b+8(FP), SI
	MOVQ   n+16(FP), CX
	VXORPS Y14, Y14, Y14

ar32:
	CMPQ    CX, $32
	JLT     ar8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	RELU(Y0)
	RELU(Y1)
	RELU(Y2)
	RELU(Y3)
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     ar32

ar8:
	CMPQ    CX, $8
	JLT     ar1
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	RELU(Y0)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     ar8

ar1:
	TESTQ  CX, CX
	JZ     arDone
	VMOVSS (DI), X0
	VADDSS (SI), X0, X0
	VMAXSS X0, X14, X0
	VADDSS X14, X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    ar1

arDone:
	VZEROUPPER
	RET

// dst = dy where y's bits are not 0, else +0; sum into acc.
#define MASK(off, acc) \
	VMOVUPS  off(BX), Y0; \
	VPCMPEQD Y14, Y0, Y0; \
	VANDNPS  off(SI), Y0, Y0; \
	VMOVUPS  Y0, off(DI); \
	VADDPS   Y0, acc, acc

// func reluMaskSumAVX2(dst, dy, y *float32, n int) float32
TEXT ·reluMaskSumAVX2(SB), NOSPLIT, $0-36
	MOVQ   dst+0(FP), DI
	MOVQ   dy+8(FP), SI
	MOVQ   y+16(FP), BX
	MOVQ   n+24(FP), CX
	VPXOR  Y14, Y14, Y14
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS X12, X12, X12

rm32:
	CMPQ CX, $32
	JLT  rm8
	MASK(0, Y8)
	MASK(32, Y9)
	MASK(64, Y10)
	MASK(96, Y11)
	ADDQ $128, SI
	ADDQ $128, DI
	ADDQ $128, BX
	SUBQ $32, CX
	JMP  rm32

rm8:
	CMPQ CX, $8
	JLT  rm1
	MASK(0, Y8)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, BX
	SUBQ $8, CX
	JMP  rm8

rm1:
	TESTQ   CX, CX
	JZ      rmFold
	MOVL    (BX), AX
	MOVL    (SI), DX
	TESTL   AX, AX
	CMOVLEQ AX, DX
	MOVL    DX, (DI)
	VMOVSS  (DI), X0
	VADDSS  X0, X12, X12
	ADDQ    $4, SI
	ADDQ    $4, DI
	ADDQ    $4, BX
	DECQ    CX
	JMP     rm1

rmFold:
	VADDPS       Y9, Y8, Y8
	VADDPS       Y11, Y10, Y10
	VADDPS       Y10, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPS       X9, X8, X8
	VHADDPS      X8, X8, X8
	VHADDPS      X8, X8, X8
	VADDSS       X12, X8, X8
	VMOVSS       X8, ret+32(FP)
	VZEROUPPER
	RET

// POOL8 turns two rows of 16 inputs (Y0,Y1 and Y2,Y3) into 8 maxima in Y0
// and their window offsets (0, 1, w, w+1) in Y1, with the scalar code's
// tie rule: the first of equal values in reading order wins.
#define POOL8 \
	VSHUFPS   $0x88, Y1, Y0, Y4; \
	VSHUFPS   $0xDD, Y1, Y0, Y5; \
	VSHUFPS   $0x88, Y3, Y2, Y6; \
	VSHUFPS   $0xDD, Y3, Y2, Y7; \
	VPERMPD   $0xD8, Y4, Y4; \
	VPERMPD   $0xD8, Y5, Y5; \
	VPERMPD   $0xD8, Y6, Y6; \
	VPERMPD   $0xD8, Y7, Y7; \
	VCMPPS    $0x1E, Y4, Y5, Y8; \
	VCMPPS    $0x1E, Y6, Y7, Y9; \
	VBLENDVPS Y8, Y5, Y4, Y10; \
	VBLENDVPS Y9, Y7, Y6, Y11; \
	VCMPPS    $0x1E, Y10, Y11, Y12; \
	VBLENDVPS Y12, Y11, Y10, Y0; \
	VPSUBD    Y8, Y13, Y8; \
	VPSUBD    Y9, Y15, Y9; \
	VBLENDVPS Y12, Y9, Y8, Y1

// func maxpool2AVX2(x, y *float32, arg *int32, base, w, ho, wo int)
// x is the plane, base the index of its first element in the sample (the
// offset that arg records), w the input width.
TEXT ·maxpool2AVX2(SB), NOSPLIT, $0-56
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         arg+16(FP), DX
	MOVQ         base+24(FP), R13
	MOVQ         w+32(FP), R10
	MOVQ         ho+40(FP), R8
	MOVQ         wo+48(FP), R12
	VPXOR        Y13, Y13, Y13
	VMOVQ        R10, X15
	VPBROADCASTD X15, Y15
	VMOVDQU      laneOff<>(SB), Y14
	TESTQ        R8, R8
	JZ           mpDone

mpRow:
	XORQ AX, AX

mpCol:
	MOVQ R12, CX
	SUBQ AX, CX
	JLE  mpNextRow
	LEAQ (SI)(AX*8), R14
	LEAQ (R14)(R10*4), R15
	CMPQ CX, $8
	JLT  mpTail

	VMOVUPS (R14), Y0
	VMOVUPS 32(R14), Y1
	VMOVUPS (R15), Y2
	VMOVUPS 32(R15), Y3
	POOL8
	LEAQ         (R13)(AX*2), BX
	VMOVQ        BX, X3
	VPBROADCASTD X3, Y3
	VPADDD       Y14, Y3, Y3
	VPADDD       Y3, Y1, Y1
	VMOVUPS      Y0, (DI)
	VMOVDQU      Y1, (DX)
	ADDQ         $32, DI
	ADDQ         $32, DX
	ADDQ         $8, AX
	JMP          mpCol

mpTail:
	// CX = rem in 1..7 windows: 2·rem inputs per row, lo of them in the
	// first vector and hi in the second, loaded under masks.
	LEAQ    maskTab<>+32(SB), R11
	LEAQ    (CX)(CX*1), BX
	MOVQ    $8, R9
	CMPQ    BX, R9
	CMOVQLT BX, R9
	SUBQ    R9, BX
	NEGQ    R9
	NEGQ    BX
	LEAQ    (R11)(R9*4), R9
	LEAQ    (R11)(BX*4), BX
	VMOVDQU    (R9), Y8
	VMOVDQU    (BX), Y9
	VMASKMOVPS (R14), Y8, Y0
	VMASKMOVPS 32(R14), Y9, Y1
	VMASKMOVPS (R15), Y8, Y2
	VMASKMOVPS 32(R15), Y9, Y3
	POOL8
	LEAQ         (R13)(AX*2), BX
	VMOVQ        BX, X3
	VPBROADCASTD X3, Y3
	VPADDD       Y14, Y3, Y3
	VPADDD       Y3, Y1, Y1
	MOVQ         CX, BX
	NEGQ         BX
	LEAQ         (R11)(BX*4), BX
	VMOVDQU      (BX), Y4
	VMASKMOVPS   Y0, Y4, (DI)
	VPMASKMOVD   Y1, Y4, (DX)
	LEAQ         (DI)(CX*4), DI
	LEAQ         (DX)(CX*4), DX

mpNextRow:
	LEAQ (SI)(R10*8), SI
	LEAQ (R13)(R10*2), R13
	DECQ R8
	JNZ  mpRow

mpDone:
	VZEROUPPER
	RET

// func adamAVX2(p, g, m, v *float32, n int, c *[10]float32)
// c: b1, 1-b1, b2, 1-b2, step, invSqrtBC2, eps, flushGrad, flushMoment,
// flushSecond.
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ         p+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m+16(FP), DX
	MOVQ         v+24(FP), R8
	MOVQ         n+32(FP), CX
	MOVQ         c+40(FP), AX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VPCMPEQD     Y15, Y15, Y15
	VPSRLD       $1, Y15, Y15
	SHRQ         $3, CX
	JZ           adamDone

adamLoop:
	VMOVUPS      (SI), Y0
	VANDPS       Y15, Y0, Y1
	VBROADCASTSS 28(AX), Y6
	VCMPPS       $0x11, Y6, Y1, Y1
	VANDNPS      Y0, Y1, Y0
	VMULPS       (DX), Y8, Y2
	VMULPS       Y0, Y9, Y3
	VADDPS       Y3, Y2, Y2
	VMULPS       Y0, Y11, Y4
	VMULPS       Y0, Y4, Y4
	VMULPS       (R8), Y10, Y5
	VADDPS       Y4, Y5, Y5
	VANDPS       Y15, Y2, Y6
	VBROADCASTSS 32(AX), Y7
	VCMPPS       $0x11, Y7, Y6, Y6
	VANDNPS      Y2, Y6, Y2
	VBROADCASTSS 36(AX), Y7
	VCMPPS       $0x11, Y7, Y5, Y6
	VANDNPS      Y5, Y6, Y5
	VMOVUPS      Y2, (DX)
	VMOVUPS      Y5, (R8)
	VSQRTPS      Y5, Y6
	VMULPS       Y13, Y6, Y6
	VADDPS       Y14, Y6, Y6
	VMULPS       Y12, Y2, Y7
	VDIVPS       Y6, Y7, Y7
	VMOVUPS      (DI), Y1
	VSUBPS       Y7, Y1, Y1
	VMOVUPS      Y1, (DI)
	ADDQ         $32, DI
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $32, R8
	DECQ         CX
	JNZ          adamLoop

adamDone:
	VZEROUPPER
	RET

// HSUM folds the 8 lanes of Y register r into the low lane of x.
#define HSUM(r, x) \
	VEXTRACTF128 $1, r, X15; \
	VADDPS       X15, x, x; \
	VHADDPS      x, x, x; \
	VHADDPS      x, x, x

// func dot3x4AVX2(a *float32, lda int, b *float32, ldb int, n int, out *[12]float32)
// out[i*4+j] = Σ_{p<n} a[i*lda+p]·b[j*ldb+p] for n a multiple of 8, with FMAs.
TEXT ·dot3x4AVX2(SB), NOSPLIT, $0-48
	MOVQ   a+0(FP), SI
	MOVQ   lda+8(FP), R8
	SHLQ   $2, R8
	MOVQ   b+16(FP), DX
	MOVQ   ldb+24(FP), R9
	SHLQ   $2, R9
	MOVQ   n+32(FP), CX
	MOVQ   out+40(FP), DI
	LEAQ   (SI)(R8*1), R10
	LEAQ   (R10)(R8*1), R11
	LEAQ   (DX)(R9*1), R12
	LEAQ   (R12)(R9*1), R13
	LEAQ   (R13)(R9*1), R14
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
	XORQ   AX, AX
	SHRQ   $3, CX
	JZ     dotStore

dotLoop:
	VMOVUPS     (SI)(AX*1), Y12
	VMOVUPS     (R10)(AX*1), Y13
	VMOVUPS     (R11)(AX*1), Y14
	VMOVUPS     (DX)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y0
	VFMADD231PS Y15, Y13, Y4
	VFMADD231PS Y15, Y14, Y8
	VMOVUPS     (R12)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y1
	VFMADD231PS Y15, Y13, Y5
	VFMADD231PS Y15, Y14, Y9
	VMOVUPS     (R13)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y2
	VFMADD231PS Y15, Y13, Y6
	VFMADD231PS Y15, Y14, Y10
	VMOVUPS     (R14)(AX*1), Y15
	VFMADD231PS Y15, Y12, Y3
	VFMADD231PS Y15, Y13, Y7
	VFMADD231PS Y15, Y14, Y11
	ADDQ        $32, AX
	DECQ        CX
	JNZ         dotLoop

dotStore:
	HSUM(Y0, X0)
	VMOVSS X0, 0(DI)
	HSUM(Y1, X1)
	VMOVSS X1, 4(DI)
	HSUM(Y2, X2)
	VMOVSS X2, 8(DI)
	HSUM(Y3, X3)
	VMOVSS X3, 12(DI)
	HSUM(Y4, X4)
	VMOVSS X4, 16(DI)
	HSUM(Y5, X5)
	VMOVSS X5, 20(DI)
	HSUM(Y6, X6)
	VMOVSS X6, 24(DI)
	HSUM(Y7, X7)
	VMOVSS X7, 28(DI)
	HSUM(Y8, X8)
	VMOVSS X8, 32(DI)
	HSUM(Y9, X9)
	VMOVSS X9, 36(DI)
	HSUM(Y10, X10)
	VMOVSS X10, 40(DI)
	HSUM(Y11, X11)
	VMOVSS X11, 44(DI)
	VZEROUPPER
	RET

// UNPOOL8 spreads 8 gradients (Y0) over their 2×2 windows, given each
// maximum's offset in its window (Y1: 0, 1, w or w+1): the first row's 16
// floats to Y2,Y3 and the second row's to Y4,Y5, 0 except at the maxima.
// Y12 holds 1 in every lane, Y15 w, Y13 0.
#define UNPOOL8 \
	VPADDD     Y12, Y15, Y11; \
	VPCMPEQD   Y13, Y1, Y6; \
	VPCMPEQD   Y12, Y1, Y7; \
	VPCMPEQD   Y15, Y1, Y8; \
	VPCMPEQD   Y11, Y1, Y9; \
	VANDPS     Y0, Y6, Y6; \
	VANDPS     Y0, Y7, Y7; \
	VANDPS     Y0, Y8, Y8; \
	VANDPS     Y0, Y9, Y9; \
	VUNPCKLPS  Y7, Y6, Y10; \
	VUNPCKHPS  Y7, Y6, Y11; \
	VPERM2F128 $0x20, Y11, Y10, Y2; \
	VPERM2F128 $0x31, Y11, Y10, Y3; \
	VUNPCKLPS  Y9, Y8, Y10; \
	VUNPCKHPS  Y9, Y8, Y11; \
	VPERM2F128 $0x20, Y11, Y10, Y4; \
	VPERM2F128 $0x31, Y11, Y10, Y5

// func maxpool2BackAVX2(dx, dy *float32, arg *int32, base, w, ho, wo int)
// writes every input of the 2×2 windows of one plane dx (width w): the
// gradient dy where arg says the window's maximum was, 0 elsewhere.
TEXT ·maxpool2BackAVX2(SB), NOSPLIT, $0-56
	MOVQ         dx+0(FP), SI
	MOVQ         dy+8(FP), DI
	MOVQ         arg+16(FP), DX
	MOVQ         base+24(FP), R13
	MOVQ         w+32(FP), R10
	MOVQ         ho+40(FP), R8
	MOVQ         wo+48(FP), R12
	VPXOR        Y13, Y13, Y13
	VPCMPEQD     Y12, Y12, Y12
	VPSUBD       Y12, Y13, Y12
	VMOVQ        R10, X15
	VPBROADCASTD X15, Y15
	VMOVDQU      laneOff<>(SB), Y14
	TESTQ        R8, R8
	JZ           ubDone

ubRow:
	XORQ AX, AX

ubCol:
	MOVQ R12, CX
	SUBQ AX, CX
	JLE  ubNextRow
	LEAQ (SI)(AX*8), R14
	LEAQ (R14)(R10*4), R15
	LEAQ         (R13)(AX*2), BX
	VMOVQ        BX, X3
	VPBROADCASTD X3, Y3
	VPADDD       Y14, Y3, Y3
	CMPQ CX, $8
	JLT  ubTail

	VMOVUPS (DI), Y0
	VMOVDQU (DX), Y1
	VPSUBD  Y3, Y1, Y1
	UNPOOL8
	VMOVUPS Y2, (R14)
	VMOVUPS Y3, 32(R14)
	VMOVUPS Y4, (R15)
	VMOVUPS Y5, 32(R15)
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $8, AX
	JMP     ubCol

ubTail:
	LEAQ       maskTab<>+32(SB), R11
	MOVQ       CX, BX
	NEGQ       BX
	LEAQ       (R11)(BX*4), BX
	VMOVDQU    (BX), Y4
	VMASKMOVPS (DI), Y4, Y0
	VPMASKMOVD (DX), Y4, Y1
	VPSUBD     Y3, Y1, Y1
	UNPOOL8
	LEAQ       (CX)(CX*1), BX
	MOVQ       $8, R9
	CMPQ       BX, R9
	CMOVQLT    BX, R9
	SUBQ       R9, BX
	NEGQ       R9
	NEGQ       BX
	LEAQ       (R11)(R9*4), R9
	LEAQ       (R11)(BX*4), BX
	VMOVDQU    (R9), Y8
	VMOVDQU    (BX), Y9
	VMASKMOVPS Y2, Y8, (R14)
	VMASKMOVPS Y3, Y9, 32(R14)
	VMASKMOVPS Y4, Y8, (R15)
	VMASKMOVPS Y5, Y9, 32(R15)
	LEAQ       (DI)(CX*4), DI
	LEAQ       (DX)(CX*4), DX

ubNextRow:
	LEAQ (SI)(R10*8), SI
	LEAQ (R13)(R10*2), R13
	DECQ R8
	JNZ  ubRow

ubDone:
	VZEROUPPER
	RET

// func copyMaskAVX2(dst, src, mask *float32, n int)
// dst[i] = src[i] with the bits of mask[i] (all ones or zero) ANDed in.
TEXT ·copyMaskAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ mask+16(FP), BX
	MOVQ n+24(FP), CX

cm16:
	CMPQ    CX, $16
	JLT     cm8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VANDPS  (BX), Y0, Y0
	VANDPS  32(BX), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, BX
	SUBQ    $16, CX
	JMP     cm16

cm8:
	CMPQ    CX, $8
	JLT     cm1
	VMOVUPS (SI), Y0
	VANDPS  (BX), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, BX
	SUBQ    $8, CX

cm1:
	TESTQ CX, CX
	JZ    cmDone
	MOVL  (SI), AX
	ANDL  (BX), AX
	MOVL  AX, (DI)
	ADDQ  $4, SI
	ADDQ  $4, DI
	ADDQ  $4, BX
	DECQ  CX
	JMP   cm1

cmDone:
	VZEROUPPER
	RET

// func addMaskAVX2(dst, src, mask *float32, n int)
// dst[i] += src[i] with the bits of mask[i] ANDed in.
TEXT ·addMaskAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ mask+16(FP), BX
	MOVQ n+24(FP), CX

am16:
	CMPQ    CX, $16
	JLT     am8
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VANDPS  (BX), Y0, Y0
	VANDPS  32(BX), Y1, Y1
	VADDPS  (DI), Y0, Y0
	VADDPS  32(DI), Y1, Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	ADDQ    $64, BX
	SUBQ    $16, CX
	JMP     am16

am8:
	CMPQ    CX, $8
	JLT     am1
	VMOVUPS (SI), Y0
	VANDPS  (BX), Y0, Y0
	VADDPS  (DI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, BX
	SUBQ    $8, CX

am1:
	TESTQ  CX, CX
	JZ     amDone
	MOVL   (SI), AX
	ANDL   (BX), AX
	VMOVD  AX, X0
	VADDSS (DI), X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	ADDQ   $4, BX
	DECQ   CX
	JMP    am1

amDone:
	VZEROUPPER
	RET
