//go:build !purego

#include "textflag.h"

// func maxAbs512(x *float32, n int) float32
TEXT ·maxAbs512(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z2
	VPXORD       Z0, Z0, Z0
loop:
	VPANDD (SI), Z2, Z1 // |x|: clear the sign bit
	VMAXPS Z1, Z0, Z0
	ADDQ   $64, SI
	SUBQ   $16, CX
	JNZ    loop
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
	JNZ       loop
	VZEROUPPER
	RET
