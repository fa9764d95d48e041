//go:build !purego

#include "textflag.h"

// func maxAbs512(x *float32, n int) float32
// n >= 1; the last n%16 floats are read under a mask (zeros elsewhere,
// which cannot raise a maximum of magnitudes).
TEXT ·maxAbs512(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z2
	VPXORD       Z0, Z0, Z0
	CMPQ         CX, $16
	JLT          tail
loop:
	VPANDD (SI), Z2, Z1 // |x|: clear the sign bit
	VMAXPS Z1, Z0, Z0
	ADDQ   $64, SI
	SUBQ   $16, CX
	CMPQ   CX, $16
	JGE    loop
tail:
	TESTQ       CX, CX
	JZ          reduce
	MOVL        $1, AX
	SHLL        CX, AX
	DECL        AX
	KMOVW       AX, K1
	VMOVUPS.Z   (SI), K1, Z1
	VPANDD      Z2, Z1, Z1
	VMAXPS      Z1, Z0, Z0
reduce:
	VEXTRACTF32X8 $1, Z0, Y1
	VMAXPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VMAXPS        X1, X0, X0
	VPERMILPS     $0x4e, X0, X1
	VMAXPS        X1, X0, X0
	VPERMILPS     $0xb1, X0, X1
	VMAXPS        X1, X0, X0
	MOVSS         X0, ret+16(FP)
	VZEROUPPER
	RET

// func quant512(dst *uint8, x *float32, n int, inv float32, shift, levels int32)
// n >= 1; the last n%16 values are loaded and stored under a mask.
TEXT ·quant512(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS inv+24(FP), Z1
	MOVL         shift+28(FP), AX
	VPBROADCASTD AX, Z2
	MOVL         levels+32(FP), AX
	VPBROADCASTD AX, Z3
	NEGL         AX
	VPBROADCASTD AX, Z4
	CMPQ         CX, $16
	JLT          tail
loop:
	VMULPS    (SI), Z1, Z0
	VCVTPS2DQ Z0, Z0     // round to nearest even (MXCSR default)
	VPMINSD   Z3, Z0, Z0
	VPMAXSD   Z4, Z0, Z0
	VPADDD    Z2, Z0, Z0
	VPMOVDB   Z0, (DI)   // 16 codes in 0..255
	ADDQ      $64, SI
	ADDQ      $16, DI
	SUBQ      $16, CX
	CMPQ      CX, $16
	JGE       loop
tail:
	TESTQ     CX, CX
	JZ        done
	MOVL      $1, AX
	SHLL      CX, AX
	DECL      AX
	KMOVW     AX, K1
	VMOVUPS.Z (SI), K1, Z0
	VMULPS    Z0, Z1, Z0
	VCVTPS2DQ Z0, Z0
	VPMINSD   Z3, Z0, Z0
	VPMAXSD   Z4, Z0, Z0
	VPADDD    Z2, Z0, Z0
	VPMOVDB   Z0, K1, (DI)
done:
	VZEROUPPER
	RET

// func pool2Row512(dst, r0, r1 *float32, wo, c int) float32
// For each output pixel: max of r0[2x], r0[2x+1], r1[2x], r1[2x+1] (each c
// floats), in that order, each step m = (next > m) ? next : m, which is
// VMAXPS m, next, m in Go's operand order.
TEXT ·pool2Row512(SB), NOSPLIT, $0-44
	MOVQ         dst+0(FP), DI
	MOVQ         r0+8(FP), SI
	MOVQ         r1+16(FP), DX
	MOVQ         wo+24(FP), BX
	MOVQ         c+32(FP), R8
	SHLQ         $2, R8             // c in bytes: one pixel
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z6
	VPXORD       Z7, Z7, Z7         // running max |value|
pixel:
	XORQ R9, R9                     // byte offset in the pixel
chunk:
	VMOVUPS (SI)(R9*1), Z0
	LEAQ    (SI)(R8*1), R10
	VMOVUPS (R10)(R9*1), Z1
	VMAXPS  Z0, Z1, Z0
	VMOVUPS (DX)(R9*1), Z1
	VMAXPS  Z0, Z1, Z0
	LEAQ    (DX)(R8*1), R10
	VMOVUPS (R10)(R9*1), Z1
	VMAXPS  Z0, Z1, Z0
	VMOVUPS Z0, (DI)(R9*1)
	VPANDD  Z6, Z0, Z0
	VMAXPS  Z7, Z0, Z7
	ADDQ    $64, R9
	CMPQ    R9, R8
	JLT     chunk
	ADDQ R8, DI
	LEAQ (SI)(R8*2), SI
	LEAQ (DX)(R8*2), DX
	DECQ BX
	JNZ  pixel
	VEXTRACTF32X8 $1, Z7, Y1
	VMAXPS        Y1, Y7, Y7
	VEXTRACTF128  $1, Y7, X1
	VMAXPS        X1, X7, X7
	VPERMILPS     $0x4e, X7, X1
	VMAXPS        X1, X7, X7
	VPERMILPS     $0xb1, X7, X1
	VMAXPS        X1, X7, X7
	MOVSS         X7, ret+40(FP)
	VZEROUPPER
	RET
