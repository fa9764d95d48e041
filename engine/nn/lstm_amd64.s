//go:build !purego

#include "textflag.h"

// lstmCellAVX2 is the gate loop of lstm.forwardRows for one row, 8 units
// at a time, with exp32 spelled out in the same operations in the same
// order (no FMA), so its results are bit for bit those of the Go loop.

DATA lstmLo<>+0(SB)/4, $0xc2ae999a
DATA lstmLo<>+4(SB)/4, $0xc2ae999a
DATA lstmLo<>+8(SB)/4, $0xc2ae999a
DATA lstmLo<>+12(SB)/4, $0xc2ae999a
DATA lstmLo<>+16(SB)/4, $0xc2ae999a
DATA lstmLo<>+20(SB)/4, $0xc2ae999a
DATA lstmLo<>+24(SB)/4, $0xc2ae999a
DATA lstmLo<>+28(SB)/4, $0xc2ae999a
DATA lstmLo<>+32(SB)/4, $0xc2ae999a
DATA lstmLo<>+36(SB)/4, $0xc2ae999a
DATA lstmLo<>+40(SB)/4, $0xc2ae999a
DATA lstmLo<>+44(SB)/4, $0xc2ae999a
DATA lstmLo<>+48(SB)/4, $0xc2ae999a
DATA lstmLo<>+52(SB)/4, $0xc2ae999a
DATA lstmLo<>+56(SB)/4, $0xc2ae999a
DATA lstmLo<>+60(SB)/4, $0xc2ae999a
GLOBL lstmLo<>(SB), RODATA|NOPTR, $64

DATA lstmHi<>+0(SB)/4, $0x42b0999a
DATA lstmHi<>+4(SB)/4, $0x42b0999a
DATA lstmHi<>+8(SB)/4, $0x42b0999a
DATA lstmHi<>+12(SB)/4, $0x42b0999a
DATA lstmHi<>+16(SB)/4, $0x42b0999a
DATA lstmHi<>+20(SB)/4, $0x42b0999a
DATA lstmHi<>+24(SB)/4, $0x42b0999a
DATA lstmHi<>+28(SB)/4, $0x42b0999a
DATA lstmHi<>+32(SB)/4, $0x42b0999a
DATA lstmHi<>+36(SB)/4, $0x42b0999a
DATA lstmHi<>+40(SB)/4, $0x42b0999a
DATA lstmHi<>+44(SB)/4, $0x42b0999a
DATA lstmHi<>+48(SB)/4, $0x42b0999a
DATA lstmHi<>+52(SB)/4, $0x42b0999a
DATA lstmHi<>+56(SB)/4, $0x42b0999a
DATA lstmHi<>+60(SB)/4, $0x42b0999a
GLOBL lstmHi<>(SB), RODATA|NOPTR, $64

DATA lstmL2E<>+0(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+4(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+8(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+12(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+16(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+20(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+24(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+28(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+32(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+36(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+40(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+44(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+48(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+52(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+56(SB)/4, $0x3fb8aa3b
DATA lstmL2E<>+60(SB)/4, $0x3fb8aa3b
GLOBL lstmL2E<>(SB), RODATA|NOPTR, $64

DATA lstmH128<>+0(SB)/4, $0x43008000
DATA lstmH128<>+4(SB)/4, $0x43008000
DATA lstmH128<>+8(SB)/4, $0x43008000
DATA lstmH128<>+12(SB)/4, $0x43008000
DATA lstmH128<>+16(SB)/4, $0x43008000
DATA lstmH128<>+20(SB)/4, $0x43008000
DATA lstmH128<>+24(SB)/4, $0x43008000
DATA lstmH128<>+28(SB)/4, $0x43008000
DATA lstmH128<>+32(SB)/4, $0x43008000
DATA lstmH128<>+36(SB)/4, $0x43008000
DATA lstmH128<>+40(SB)/4, $0x43008000
DATA lstmH128<>+44(SB)/4, $0x43008000
DATA lstmH128<>+48(SB)/4, $0x43008000
DATA lstmH128<>+52(SB)/4, $0x43008000
DATA lstmH128<>+56(SB)/4, $0x43008000
DATA lstmH128<>+60(SB)/4, $0x43008000
GLOBL lstmH128<>(SB), RODATA|NOPTR, $64

DATA lstmC1<>+0(SB)/4, $0x3f318000
DATA lstmC1<>+4(SB)/4, $0x3f318000
DATA lstmC1<>+8(SB)/4, $0x3f318000
DATA lstmC1<>+12(SB)/4, $0x3f318000
DATA lstmC1<>+16(SB)/4, $0x3f318000
DATA lstmC1<>+20(SB)/4, $0x3f318000
DATA lstmC1<>+24(SB)/4, $0x3f318000
DATA lstmC1<>+28(SB)/4, $0x3f318000
DATA lstmC1<>+32(SB)/4, $0x3f318000
DATA lstmC1<>+36(SB)/4, $0x3f318000
DATA lstmC1<>+40(SB)/4, $0x3f318000
DATA lstmC1<>+44(SB)/4, $0x3f318000
DATA lstmC1<>+48(SB)/4, $0x3f318000
DATA lstmC1<>+52(SB)/4, $0x3f318000
DATA lstmC1<>+56(SB)/4, $0x3f318000
DATA lstmC1<>+60(SB)/4, $0x3f318000
GLOBL lstmC1<>(SB), RODATA|NOPTR, $64

DATA lstmC2<>+0(SB)/4, $0xb95e8083
DATA lstmC2<>+4(SB)/4, $0xb95e8083
DATA lstmC2<>+8(SB)/4, $0xb95e8083
DATA lstmC2<>+12(SB)/4, $0xb95e8083
DATA lstmC2<>+16(SB)/4, $0xb95e8083
DATA lstmC2<>+20(SB)/4, $0xb95e8083
DATA lstmC2<>+24(SB)/4, $0xb95e8083
DATA lstmC2<>+28(SB)/4, $0xb95e8083
DATA lstmC2<>+32(SB)/4, $0xb95e8083
DATA lstmC2<>+36(SB)/4, $0xb95e8083
DATA lstmC2<>+40(SB)/4, $0xb95e8083
DATA lstmC2<>+44(SB)/4, $0xb95e8083
DATA lstmC2<>+48(SB)/4, $0xb95e8083
DATA lstmC2<>+52(SB)/4, $0xb95e8083
DATA lstmC2<>+56(SB)/4, $0xb95e8083
DATA lstmC2<>+60(SB)/4, $0xb95e8083
GLOBL lstmC2<>(SB), RODATA|NOPTR, $64

DATA lstmP0<>+0(SB)/4, $0x39506967
DATA lstmP0<>+4(SB)/4, $0x39506967
DATA lstmP0<>+8(SB)/4, $0x39506967
DATA lstmP0<>+12(SB)/4, $0x39506967
DATA lstmP0<>+16(SB)/4, $0x39506967
DATA lstmP0<>+20(SB)/4, $0x39506967
DATA lstmP0<>+24(SB)/4, $0x39506967
DATA lstmP0<>+28(SB)/4, $0x39506967
DATA lstmP0<>+32(SB)/4, $0x39506967
DATA lstmP0<>+36(SB)/4, $0x39506967
DATA lstmP0<>+40(SB)/4, $0x39506967
DATA lstmP0<>+44(SB)/4, $0x39506967
DATA lstmP0<>+48(SB)/4, $0x39506967
DATA lstmP0<>+52(SB)/4, $0x39506967
DATA lstmP0<>+56(SB)/4, $0x39506967
DATA lstmP0<>+60(SB)/4, $0x39506967
GLOBL lstmP0<>(SB), RODATA|NOPTR, $64

DATA lstmP1<>+0(SB)/4, $0x3ab743ce
DATA lstmP1<>+4(SB)/4, $0x3ab743ce
DATA lstmP1<>+8(SB)/4, $0x3ab743ce
DATA lstmP1<>+12(SB)/4, $0x3ab743ce
DATA lstmP1<>+16(SB)/4, $0x3ab743ce
DATA lstmP1<>+20(SB)/4, $0x3ab743ce
DATA lstmP1<>+24(SB)/4, $0x3ab743ce
DATA lstmP1<>+28(SB)/4, $0x3ab743ce
DATA lstmP1<>+32(SB)/4, $0x3ab743ce
DATA lstmP1<>+36(SB)/4, $0x3ab743ce
DATA lstmP1<>+40(SB)/4, $0x3ab743ce
DATA lstmP1<>+44(SB)/4, $0x3ab743ce
DATA lstmP1<>+48(SB)/4, $0x3ab743ce
DATA lstmP1<>+52(SB)/4, $0x3ab743ce
DATA lstmP1<>+56(SB)/4, $0x3ab743ce
DATA lstmP1<>+60(SB)/4, $0x3ab743ce
GLOBL lstmP1<>(SB), RODATA|NOPTR, $64

DATA lstmP2<>+0(SB)/4, $0x3c088908
DATA lstmP2<>+4(SB)/4, $0x3c088908
DATA lstmP2<>+8(SB)/4, $0x3c088908
DATA lstmP2<>+12(SB)/4, $0x3c088908
DATA lstmP2<>+16(SB)/4, $0x3c088908
DATA lstmP2<>+20(SB)/4, $0x3c088908
DATA lstmP2<>+24(SB)/4, $0x3c088908
DATA lstmP2<>+28(SB)/4, $0x3c088908
DATA lstmP2<>+32(SB)/4, $0x3c088908
DATA lstmP2<>+36(SB)/4, $0x3c088908
DATA lstmP2<>+40(SB)/4, $0x3c088908
DATA lstmP2<>+44(SB)/4, $0x3c088908
DATA lstmP2<>+48(SB)/4, $0x3c088908
DATA lstmP2<>+52(SB)/4, $0x3c088908
DATA lstmP2<>+56(SB)/4, $0x3c088908
DATA lstmP2<>+60(SB)/4, $0x3c088908
GLOBL lstmP2<>(SB), RODATA|NOPTR, $64

DATA lstmP3<>+0(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+4(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+8(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+12(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+16(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+20(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+24(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+28(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+32(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+36(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+40(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+44(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+48(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+52(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+56(SB)/4, $0x3d2aa9c1
DATA lstmP3<>+60(SB)/4, $0x3d2aa9c1
GLOBL lstmP3<>(SB), RODATA|NOPTR, $64

DATA lstmP4<>+0(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+4(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+8(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+12(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+16(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+20(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+24(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+28(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+32(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+36(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+40(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+44(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+48(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+52(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+56(SB)/4, $0x3e2aaaaa
DATA lstmP4<>+60(SB)/4, $0x3e2aaaaa
GLOBL lstmP4<>(SB), RODATA|NOPTR, $64

DATA lstmP5<>+0(SB)/4, $0x3f000000
DATA lstmP5<>+4(SB)/4, $0x3f000000
DATA lstmP5<>+8(SB)/4, $0x3f000000
DATA lstmP5<>+12(SB)/4, $0x3f000000
DATA lstmP5<>+16(SB)/4, $0x3f000000
DATA lstmP5<>+20(SB)/4, $0x3f000000
DATA lstmP5<>+24(SB)/4, $0x3f000000
DATA lstmP5<>+28(SB)/4, $0x3f000000
DATA lstmP5<>+32(SB)/4, $0x3f000000
DATA lstmP5<>+36(SB)/4, $0x3f000000
DATA lstmP5<>+40(SB)/4, $0x3f000000
DATA lstmP5<>+44(SB)/4, $0x3f000000
DATA lstmP5<>+48(SB)/4, $0x3f000000
DATA lstmP5<>+52(SB)/4, $0x3f000000
DATA lstmP5<>+56(SB)/4, $0x3f000000
DATA lstmP5<>+60(SB)/4, $0x3f000000
GLOBL lstmP5<>(SB), RODATA|NOPTR, $64

DATA lstmOne<>+0(SB)/4, $0x3f800000
DATA lstmOne<>+4(SB)/4, $0x3f800000
DATA lstmOne<>+8(SB)/4, $0x3f800000
DATA lstmOne<>+12(SB)/4, $0x3f800000
DATA lstmOne<>+16(SB)/4, $0x3f800000
DATA lstmOne<>+20(SB)/4, $0x3f800000
DATA lstmOne<>+24(SB)/4, $0x3f800000
DATA lstmOne<>+28(SB)/4, $0x3f800000
DATA lstmOne<>+32(SB)/4, $0x3f800000
DATA lstmOne<>+36(SB)/4, $0x3f800000
DATA lstmOne<>+40(SB)/4, $0x3f800000
DATA lstmOne<>+44(SB)/4, $0x3f800000
DATA lstmOne<>+48(SB)/4, $0x3f800000
DATA lstmOne<>+52(SB)/4, $0x3f800000
DATA lstmOne<>+56(SB)/4, $0x3f800000
DATA lstmOne<>+60(SB)/4, $0x3f800000
GLOBL lstmOne<>(SB), RODATA|NOPTR, $64

DATA lstmTwo<>+0(SB)/4, $0x40000000
DATA lstmTwo<>+4(SB)/4, $0x40000000
DATA lstmTwo<>+8(SB)/4, $0x40000000
DATA lstmTwo<>+12(SB)/4, $0x40000000
DATA lstmTwo<>+16(SB)/4, $0x40000000
DATA lstmTwo<>+20(SB)/4, $0x40000000
DATA lstmTwo<>+24(SB)/4, $0x40000000
DATA lstmTwo<>+28(SB)/4, $0x40000000
DATA lstmTwo<>+32(SB)/4, $0x40000000
DATA lstmTwo<>+36(SB)/4, $0x40000000
DATA lstmTwo<>+40(SB)/4, $0x40000000
DATA lstmTwo<>+44(SB)/4, $0x40000000
DATA lstmTwo<>+48(SB)/4, $0x40000000
DATA lstmTwo<>+52(SB)/4, $0x40000000
DATA lstmTwo<>+56(SB)/4, $0x40000000
DATA lstmTwo<>+60(SB)/4, $0x40000000
GLOBL lstmTwo<>(SB), RODATA|NOPTR, $64

DATA lstmB127<>+0(SB)/4, $0x42fe0000
DATA lstmB127<>+4(SB)/4, $0x42fe0000
DATA lstmB127<>+8(SB)/4, $0x42fe0000
DATA lstmB127<>+12(SB)/4, $0x42fe0000
DATA lstmB127<>+16(SB)/4, $0x42fe0000
DATA lstmB127<>+20(SB)/4, $0x42fe0000
DATA lstmB127<>+24(SB)/4, $0x42fe0000
DATA lstmB127<>+28(SB)/4, $0x42fe0000
DATA lstmB127<>+32(SB)/4, $0x42fe0000
DATA lstmB127<>+36(SB)/4, $0x42fe0000
DATA lstmB127<>+40(SB)/4, $0x42fe0000
DATA lstmB127<>+44(SB)/4, $0x42fe0000
DATA lstmB127<>+48(SB)/4, $0x42fe0000
DATA lstmB127<>+52(SB)/4, $0x42fe0000
DATA lstmB127<>+56(SB)/4, $0x42fe0000
DATA lstmB127<>+60(SB)/4, $0x42fe0000
GLOBL lstmB127<>(SB), RODATA|NOPTR, $64

DATA lstmI128<>+0(SB)/4, $0x00000080
DATA lstmI128<>+4(SB)/4, $0x00000080
DATA lstmI128<>+8(SB)/4, $0x00000080
DATA lstmI128<>+12(SB)/4, $0x00000080
DATA lstmI128<>+16(SB)/4, $0x00000080
DATA lstmI128<>+20(SB)/4, $0x00000080
DATA lstmI128<>+24(SB)/4, $0x00000080
DATA lstmI128<>+28(SB)/4, $0x00000080
DATA lstmI128<>+32(SB)/4, $0x00000080
DATA lstmI128<>+36(SB)/4, $0x00000080
DATA lstmI128<>+40(SB)/4, $0x00000080
DATA lstmI128<>+44(SB)/4, $0x00000080
DATA lstmI128<>+48(SB)/4, $0x00000080
DATA lstmI128<>+52(SB)/4, $0x00000080
DATA lstmI128<>+56(SB)/4, $0x00000080
DATA lstmI128<>+60(SB)/4, $0x00000080
GLOBL lstmI128<>(SB), RODATA|NOPTR, $64

DATA lstmSign<>+0(SB)/4, $0x80000000
DATA lstmSign<>+4(SB)/4, $0x80000000
DATA lstmSign<>+8(SB)/4, $0x80000000
DATA lstmSign<>+12(SB)/4, $0x80000000
DATA lstmSign<>+16(SB)/4, $0x80000000
DATA lstmSign<>+20(SB)/4, $0x80000000
DATA lstmSign<>+24(SB)/4, $0x80000000
DATA lstmSign<>+28(SB)/4, $0x80000000
DATA lstmSign<>+32(SB)/4, $0x80000000
DATA lstmSign<>+36(SB)/4, $0x80000000
DATA lstmSign<>+40(SB)/4, $0x80000000
DATA lstmSign<>+44(SB)/4, $0x80000000
DATA lstmSign<>+48(SB)/4, $0x80000000
DATA lstmSign<>+52(SB)/4, $0x80000000
DATA lstmSign<>+56(SB)/4, $0x80000000
DATA lstmSign<>+60(SB)/4, $0x80000000
GLOBL lstmSign<>(SB), RODATA|NOPTR, $64

// EXP sets X = exp32(X), using T, R and P.
#define EXP(X, T, R, P) \
	VMAXPS     lstmLo<>(SB), X, X   \
	VMINPS     lstmHi<>(SB), X, X   \
	VMULPS     lstmL2E<>(SB), X, T  \
	VADDPS     lstmH128<>(SB), T, T \
	VCVTTPS2DQ T, T                 \
	VPSUBD     lstmI128<>(SB), T, T \
	VCVTDQ2PS  T, T                 \
	VMULPS     lstmC1<>(SB), T, R   \
	VSUBPS     R, X, R              \
	VMULPS     lstmC2<>(SB), T, P   \
	VSUBPS     P, R, R              \
	VMULPS     lstmP0<>(SB), R, P   \
	VADDPS     lstmP1<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP2<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP3<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP4<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP5<>(SB), P, P   \
	VMULPS     R, P, P              \
	VMULPS     R, P, P              \
	VADDPS     R, P, P              \
	VADDPS     Y15, P, P            \
	VADDPS     lstmB127<>(SB), T, T \
	VCVTTPS2DQ T, T                 \
	VPSLLD     $23, T, T            \
	VMULPS     T, P, X

// SIGMOID sets X = 1/(1+exp32(-X)).
#define SIGMOID(X) \
	VXORPS Y13, X, X          \
	EXP(X, Y0, Y1, Y2)        \
	VADDPS Y15, X, X          \
	VDIVPS X, Y15, X

// TANH sets X = 1 - 2/(exp32(2X)+1).
#define TANH(X) \
	VADDPS X, X, X            \
	EXP(X, Y0, Y1, Y2)        \
	VADDPS Y15, X, X          \
	VDIVPS X, Y14, X          \
	VSUBPS X, Y15, X

// func lstmCellAVX2(z, b, cp, cn, hn, tc *float32, h int)
TEXT ·lstmCellAVX2(SB), NOSPLIT, $0-56
	MOVQ z+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ cp+16(FP), R8
	MOVQ cn+24(FP), R9
	MOVQ hn+32(FP), R10
	MOVQ tc+40(FP), R11
	MOVQ h+48(FP), CX
	MOVQ CX, BX
	SHLQ $2, BX          // H in bytes
	LEAQ (BX)(BX*2), DX  // 3H in bytes
	SHRQ $3, CX          // blocks of 8 units
	VMOVUPS lstmOne<>(SB), Y15
	VMOVUPS lstmTwo<>(SB), Y14
	VMOVUPS lstmSign<>(SB), Y13

cellLoop:
	TESTQ CX, CX
	JZ    cellDone
	VMOVUPS (DI), Y4
	VADDPS  (SI), Y4, Y4
	SIGMOID(Y4)                    // i
	VMOVUPS (DI)(BX*1), Y5
	VADDPS  (SI)(BX*1), Y5, Y5
	SIGMOID(Y5)                    // f
	VMOVUPS (DI)(BX*2), Y6
	VADDPS  (SI)(BX*2), Y6, Y6
	TANH(Y6)                       // g
	VMOVUPS (DI)(DX*1), Y7
	VADDPS  (SI)(DX*1), Y7, Y7
	SIGMOID(Y7)                    // o
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, (DI)(BX*1)
	VMOVUPS Y6, (DI)(BX*2)
	VMOVUPS Y7, (DI)(DX*1)
	VMULPS  (R8), Y5, Y8           // f·c_prev
	VMULPS  Y6, Y4, Y9             // i·g
	VADDPS  Y9, Y8, Y8             // c
	VMOVUPS Y8, (R9)
	TANH(Y8)
	VMOVUPS Y8, (R11)
	VMULPS  Y8, Y7, Y8             // h = o·tanh(c)
	VMOVUPS Y8, (R10)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, R10
	ADDQ    $32, R11
	DECQ    CX
	JMP     cellLoop

cellDone:
	VZEROUPPER
	RET

// EXP16 is EXP on 16 lanes (AVX-512F).
#define EXP16(X, T, R, P) \
	VMAXPS     lstmLo<>(SB), X, X   \
	VMINPS     lstmHi<>(SB), X, X   \
	VMULPS     lstmL2E<>(SB), X, T  \
	VADDPS     lstmH128<>(SB), T, T \
	VCVTTPS2DQ T, T                 \
	VPSUBD     lstmI128<>(SB), T, T \
	VCVTDQ2PS  T, T                 \
	VMULPS     lstmC1<>(SB), T, R   \
	VSUBPS     R, X, R              \
	VMULPS     lstmC2<>(SB), T, P   \
	VSUBPS     P, R, R              \
	VMULPS     lstmP0<>(SB), R, P   \
	VADDPS     lstmP1<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP2<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP3<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP4<>(SB), P, P   \
	VMULPS     R, P, P              \
	VADDPS     lstmP5<>(SB), P, P   \
	VMULPS     R, P, P              \
	VMULPS     R, P, P              \
	VADDPS     R, P, P              \
	VADDPS     Z15, P, P            \
	VADDPS     lstmB127<>(SB), T, T \
	VCVTTPS2DQ T, T                 \
	VPSLLD     $23, T, T            \
	VMULPS     T, P, X

// SIGMOID16 sets X = 1/(1+exp32(-X)).
#define SIGMOID16(X) \
	VPXORD Z13, X, X          \
	EXP16(X, Z0, Z1, Z2)        \
	VADDPS Z15, X, X          \
	VDIVPS X, Z15, X

// TANH16 sets X = 1 - 2/(exp32(2X)+1).
#define TANH16(X) \
	VADDPS X, X, X            \
	EXP16(X, Z0, Z1, Z2)        \
	VADDPS Z15, X, X          \
	VDIVPS X, Z14, X          \
	VSUBPS X, Z15, X

// func lstmCellAVX512(z, b, cp, cn, hn, tc *float32, h int)
TEXT ·lstmCellAVX512(SB), NOSPLIT, $0-56
	MOVQ z+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ cp+16(FP), R8
	MOVQ cn+24(FP), R9
	MOVQ hn+32(FP), R10
	MOVQ tc+40(FP), R11
	MOVQ h+48(FP), CX
	MOVQ CX, BX
	SHLQ $2, BX          // H in bytes
	LEAQ (BX)(BX*2), DX  // 3H in bytes
	SHRQ $4, CX          // blocks of 16 units
	VMOVUPS lstmOne<>(SB), Z15
	VMOVUPS lstmTwo<>(SB), Z14
	VMOVUPS lstmSign<>(SB), Z13

cell16Loop:
	TESTQ CX, CX
	JZ    cell16Done
	VMOVUPS (DI), Z4
	VADDPS  (SI), Z4, Z4
	SIGMOID16(Z4)                    // i
	VMOVUPS (DI)(BX*1), Z5
	VADDPS  (SI)(BX*1), Z5, Z5
	SIGMOID16(Z5)                    // f
	VMOVUPS (DI)(BX*2), Z6
	VADDPS  (SI)(BX*2), Z6, Z6
	TANH16(Z6)                       // g
	VMOVUPS (DI)(DX*1), Z7
	VADDPS  (SI)(DX*1), Z7, Z7
	SIGMOID16(Z7)                    // o
	VMOVUPS Z4, (DI)
	VMOVUPS Z5, (DI)(BX*1)
	VMOVUPS Z6, (DI)(BX*2)
	VMOVUPS Z7, (DI)(DX*1)
	VMULPS  (R8), Z5, Z8           // f·c_prev
	VMULPS  Z6, Z4, Z9             // i·g
	VADDPS  Z9, Z8, Z8             // c
	VMOVUPS Z8, (R9)
	TANH16(Z8)
	VMOVUPS Z8, (R11)
	VMULPS  Z8, Z7, Z8             // h = o·tanh(c)
	VMOVUPS Z8, (R10)
	ADDQ    $64, DI
	ADDQ    $64, SI
	ADDQ    $64, R8
	ADDQ    $64, R9
	ADDQ    $64, R10
	ADDQ    $64, R11
	DECQ    CX
	JMP     cell16Loop

cell16Done:
	VZEROUPPER
	RET

// func lstmRecAVX2(h, u, z *float32, k, cols int)
// z[0:cols] += Σ_{p<k} h[p]·u[p*cols : (p+1)*cols], cols a multiple of 64: eight
// accumulators of 8 columns each per block of 64.
TEXT ·lstmRecAVX2(SB), NOSPLIT, $0-40
	MOVQ h+0(FP), SI
	MOVQ u+8(FP), DI
	MOVQ z+16(FP), R8
	MOVQ k+24(FP), R9
	MOVQ cols+32(FP), R10
	MOVQ R10, R11
	SHLQ $2, R11          // row stride of u in bytes

recBlock:
	CMPQ R10, $64
	JLT  recDone
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, AX         // h[p]
	MOVQ   DI, BX         // u row p, this block
	MOVQ   R9, CX

recK:
	TESTQ        CX, CX
	JZ           recStore
	VBROADCASTSS (AX), Y8
	VFMADD231PS  (BX), Y8, Y0
	VFMADD231PS  32(BX), Y8, Y1
	VFMADD231PS  64(BX), Y8, Y2
	VFMADD231PS  96(BX), Y8, Y3
	VFMADD231PS  128(BX), Y8, Y4
	VFMADD231PS  160(BX), Y8, Y5
	VFMADD231PS  192(BX), Y8, Y6
	VFMADD231PS  224(BX), Y8, Y7
	ADDQ         $4, AX
	ADDQ         R11, BX
	DECQ         CX
	JMP          recK

recStore:
	VADDPS  (R8), Y0, Y0
	VADDPS  32(R8), Y1, Y1
	VADDPS  64(R8), Y2, Y2
	VADDPS  96(R8), Y3, Y3
	VADDPS  128(R8), Y4, Y4
	VADDPS  160(R8), Y5, Y5
	VADDPS  192(R8), Y6, Y6
	VADDPS  224(R8), Y7, Y7
	VMOVUPS Y0, (R8)
	VMOVUPS Y1, 32(R8)
	VMOVUPS Y2, 64(R8)
	VMOVUPS Y3, 96(R8)
	VMOVUPS Y4, 128(R8)
	VMOVUPS Y5, 160(R8)
	VMOVUPS Y6, 192(R8)
	VMOVUPS Y7, 224(R8)
	ADDQ    $256, DI
	ADDQ    $256, R8
	SUBQ    $64, R10
	JMP     recBlock

recDone:
	VZEROUPPER
	RET
