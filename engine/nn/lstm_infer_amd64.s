//go:build !purego

#include "textflag.h"

// lstmInferAVX512: one step of the inference LSTM (lstm_infer.go) for a
// range of rows, gates fused with both products. For each row r and each
// block of 16 units, the four gate sums i, f, g, o start at the bias, take
// x_r·W and h_r·U in registers (four rows at a time: 16 accumulators, each
// loaded W or U vector feeding four FMAs), and go straight through the
// activations into the new cell and hidden state: nothing of the gates is
// stored.
//
// exp is exp32's polynomial with FMA, rounding by VRNDSCALEPS and 2^n by
// VSCALEFPS; 1/d is VRCP14PS and one Newton step (about 1 ulp). So the
// results are not the training kernel's bits, only within a few ulp of
// them (TestInferenceMatchesTrainingLSTM bounds it).

// 1
DATA lstmiOne<>+0(SB)/4, $0x3f800000
GLOBL lstmiOne<>(SB), RODATA|NOPTR, $4

// 2
DATA lstmiTwo<>+0(SB)/4, $0x40000000
GLOBL lstmiTwo<>(SB), RODATA|NOPTR, $4

// -87.3, exp32's lower clamp
DATA lstmiLo<>+0(SB)/4, $0xc2ae999a
GLOBL lstmiLo<>(SB), RODATA|NOPTR, $4

// 88.3, its upper clamp
DATA lstmiHi<>+0(SB)/4, $0x42b0999a
GLOBL lstmiHi<>(SB), RODATA|NOPTR, $4

// the sign bit
DATA lstmiSign<>+0(SB)/4, $0x80000000
GLOBL lstmiSign<>(SB), RODATA|NOPTR, $4

// log2(e)
DATA lstmiL2E<>+0(SB)/4, $0x3fb8aa3b
GLOBL lstmiL2E<>(SB), RODATA|NOPTR, $4

// ln2, high part
DATA lstmiC1<>+0(SB)/4, $0x3f318000
GLOBL lstmiC1<>(SB), RODATA|NOPTR, $4

// ln2 - C1, negated as in exp32
DATA lstmiC2<>+0(SB)/4, $0xb95e8083
GLOBL lstmiC2<>(SB), RODATA|NOPTR, $4

// exp32's polynomial, highest degree first
DATA lstmiP0<>+0(SB)/4, $0x39506967
GLOBL lstmiP0<>(SB), RODATA|NOPTR, $4

DATA lstmiP1<>+0(SB)/4, $0x3ab743ce
GLOBL lstmiP1<>(SB), RODATA|NOPTR, $4

DATA lstmiP2<>+0(SB)/4, $0x3c088908
GLOBL lstmiP2<>(SB), RODATA|NOPTR, $4

DATA lstmiP3<>+0(SB)/4, $0x3d2aa9c1
GLOBL lstmiP3<>(SB), RODATA|NOPTR, $4

DATA lstmiP4<>+0(SB)/4, $0x3e2aaaaa
GLOBL lstmiP4<>(SB), RODATA|NOPTR, $4

DATA lstmiP5<>+0(SB)/4, $0x3f000000
GLOBL lstmiP5<>(SB), RODATA|NOPTR, $4

// IEXP sets X = exp(X) (X clamped to exp32's range), using N and P.
// Z31 holds 1.
#define IEXP(X, N, P) \
	VMAXPS.BCST       lstmiLo<>(SB), X, X  \
	VMINPS.BCST       lstmiHi<>(SB), X, X  \
	VMULPS.BCST       lstmiL2E<>(SB), X, N \
	VRNDSCALEPS       $0, N, N             \
	VFNMADD231PS.BCST lstmiC1<>(SB), N, X  \
	VFNMADD231PS.BCST lstmiC2<>(SB), N, X  \
	VBROADCASTSS      lstmiP0<>(SB), P     \
	VFMADD213PS.BCST  lstmiP1<>(SB), X, P  \
	VFMADD213PS.BCST  lstmiP2<>(SB), X, P  \
	VFMADD213PS.BCST  lstmiP3<>(SB), X, P  \
	VFMADD213PS.BCST  lstmiP4<>(SB), X, P  \
	VFMADD213PS.BCST  lstmiP5<>(SB), X, P  \
	VFMADD213PS       Z31, X, P            \
	VFMADD213PS       Z31, X, P            \
	VSCALEFPS         N, P, X

// IRECIP sets X = 1/X: VRCP14PS, then one Newton step, using N.
#define IRECIP(X, N) \
	VRCP14PS     X, N      \
	VFNMADD213PS Z31, N, X \
	VFMADD213PS  N, N, X

// ISIGMOID sets X = 1/(1+exp(-X)).
#define ISIGMOID(X, N, P) \
	VPXORD.BCST lstmiSign<>(SB), X, X \
	IEXP(X, N, P)                     \
	VADDPS      Z31, X, X             \
	IRECIP(X, N)

// ITANH sets X = 1 - 2/(exp(2X)+1). Z30 holds 2.
#define ITANH(X, N, P) \
	VADDPS       X, X, X   \
	IEXP(X, N, P)          \
	VADDPS       Z31, X, X \
	IRECIP(X, N)           \
	VFNMADD213PS Z31, Z30, X

// IGATES turns one row's gate sums I, F, G, O into c = f·c + i·g (CM, in
// place) and h = o·tanh(c), left in O and stored at HM.
#define IGATES(I, F, G, O, CM, HM) \
	ISIGMOID(I, Z16, Z17)  \
	ISIGMOID(F, Z18, Z19)  \
	ITANH(G, Z20, Z21)     \
	ISIGMOID(O, Z22, Z23)  \
	VMULPS      CM, F, F   \
	VFMADD231PS G, I, F    \
	VMOVUPS     F, CM      \
	ITANH(F, Z24, Z25)     \
	VMULPS      F, O, O    \
	VMOVUPS     O, HM

// IFMA4 adds the four gate vectors Z16-Z19 times the broadcast B to one
// row's accumulators A0-A3.
#define IFMA4(B, A0, A1, A2, A3) \
	VFMADD231PS Z16, B, A0 \
	VFMADD231PS Z17, B, A1 \
	VFMADD231PS Z18, B, A2 \
	VFMADD231PS Z19, B, A3

// ILOAD4 loads the four gate vectors of one row of W or U at SI.
#define ILOAD4 \
	VMOVUPS (SI), Z16       \
	VMOVUPS (SI)(AX*1), Z17 \
	VMOVUPS (SI)(AX*2), Z18 \
	VMOVUPS (SI)(BX*1), Z19

// IFMA8 is one k of a lone row over two unit blocks: the broadcast value
// at DI times the W or U row at SI (blocks at SI and 64(SI)) into Z0-Z7;
// then both pointers move on.
#define IFMA8 \
	VBROADCASTSS (DI), Z20             \
	VFMADD231PS  (SI), Z20, Z0         \
	VFMADD231PS  (SI)(AX*1), Z20, Z1   \
	VFMADD231PS  (SI)(AX*2), Z20, Z2   \
	VFMADD231PS  (SI)(BX*1), Z20, Z3   \
	VFMADD231PS  64(SI), Z20, Z4       \
	VFMADD231PS  64(SI)(AX*1), Z20, Z5 \
	VFMADD231PS  64(SI)(AX*2), Z20, Z6 \
	VFMADD231PS  64(SI)(BX*1), Z20, Z7 \
	ADDQ         $4, DI                \
	LEAQ         (SI)(AX*4), SI

// func lstmInferAVX512(x **float32, w *float32, in int, h, u *float32, hk int, b, c, hn, pool *float32, rows, units, mode int)
//
// Row r (r < rows) reads its input x[r][0:in], its previous hidden state
// h[r*units:] (the first hk units; hk = 0 for a zero state), updates
// c[r*units:] and writes hn[r*units:]; mode 1 adds the new h into
// pool[r*units:], mode 2 keeps there the maximum. w is [in, 4·units], u
// [units, 4·units], b [4·units]; units is a multiple of 16.
//
// Registers: AX = units·4 bytes (one gate's width, and a state row's
// stride), BX = 3·AX, DX = the unit block's byte offset, R12 = rows left,
// R13 = the first row's offset in the state rows, R8-R11 the input rows;
// xr the next input row pointer. Z30 = 2, Z31 = 1.
TEXT ·lstmInferAVX512(SB), NOSPLIT, $8-104
	MOVQ units+88(FP), AX
	SHLQ $2, AX
	LEAQ (AX)(AX*2), BX
	MOVQ rows+80(FP), R12
	XORQ R13, R13
	MOVQ x+0(FP), CX
	MOVQ CX, xr-8(SP)
	VBROADCASTSS lstmiOne<>(SB), Z31
	VBROADCASTSS lstmiTwo<>(SB), Z30

row4:
	CMPQ R12, $4
	JLT  row1
	MOVQ xr-8(SP), CX
	MOVQ 0(CX), R8
	MOVQ 8(CX), R9
	MOVQ 16(CX), R10
	MOVQ 24(CX), R11
	XORQ DX, DX

blk4:
	CMPQ DX, AX
	JGE  row4next
	MOVQ    b+48(FP), SI
	ADDQ    DX, SI
	ILOAD4
	VMOVAPS Z16, Z0
	VMOVAPS Z17, Z1
	VMOVAPS Z18, Z2
	VMOVAPS Z19, Z3
	VMOVAPS Z16, Z4
	VMOVAPS Z17, Z5
	VMOVAPS Z18, Z6
	VMOVAPS Z19, Z7
	VMOVAPS Z16, Z8
	VMOVAPS Z17, Z9
	VMOVAPS Z18, Z10
	VMOVAPS Z19, Z11
	VMOVAPS Z16, Z12
	VMOVAPS Z17, Z13
	VMOVAPS Z18, Z14
	VMOVAPS Z19, Z15
	MOVQ    w+8(FP), SI
	ADDQ    DX, SI
	XORQ    DI, DI
	MOVQ    in+16(FP), CX

in4:
	TESTQ        CX, CX
	JZ           in4done
	ILOAD4
	VBROADCASTSS (R8)(DI*1), Z20
	VBROADCASTSS (R9)(DI*1), Z21
	VBROADCASTSS (R10)(DI*1), Z22
	VBROADCASTSS (R11)(DI*1), Z23
	IFMA4(Z20, Z0, Z1, Z2, Z3)
	IFMA4(Z21, Z4, Z5, Z6, Z7)
	IFMA4(Z22, Z8, Z9, Z10, Z11)
	IFMA4(Z23, Z12, Z13, Z14, Z15)
	ADDQ         $4, DI
	LEAQ         (SI)(AX*4), SI
	DECQ         CX
	JMP          in4

in4done:
	MOVQ hk+40(FP), CX
	MOVQ u+32(FP), SI
	ADDQ DX, SI
	MOVQ h+24(FP), DI
	ADDQ R13, DI

rec4:
	TESTQ        CX, CX
	JZ           rec4done
	ILOAD4
	VBROADCASTSS (DI), Z20
	VBROADCASTSS (DI)(AX*1), Z21
	VBROADCASTSS (DI)(AX*2), Z22
	VBROADCASTSS (DI)(BX*1), Z23
	IFMA4(Z20, Z0, Z1, Z2, Z3)
	IFMA4(Z21, Z4, Z5, Z6, Z7)
	IFMA4(Z22, Z8, Z9, Z10, Z11)
	IFMA4(Z23, Z12, Z13, Z14, Z15)
	ADDQ         $4, DI
	LEAQ         (SI)(AX*4), SI
	DECQ         CX
	JMP          rec4

rec4done:
	MOVQ c+56(FP), SI
	ADDQ R13, SI
	ADDQ DX, SI
	MOVQ hn+64(FP), DI
	ADDQ R13, DI
	ADDQ DX, DI
	IGATES(Z0, Z1, Z2, Z3, (SI), (DI))
	IGATES(Z4, Z5, Z6, Z7, (SI)(AX*1), (DI)(AX*1))
	IGATES(Z8, Z9, Z10, Z11, (SI)(AX*2), (DI)(AX*2))
	IGATES(Z12, Z13, Z14, Z15, (SI)(BX*1), (DI)(BX*1))
	MOVQ pool+72(FP), CX
	ADDQ R13, CX
	ADDQ DX, CX
	CMPQ mode+96(FP), $1
	JNE  max4
	VADDPS  (CX), Z3, Z3
	VADDPS  (CX)(AX*1), Z7, Z7
	VADDPS  (CX)(AX*2), Z11, Z11
	VADDPS  (CX)(BX*1), Z15, Z15
	JMP     store4

max4:
	CMPQ mode+96(FP), $2
	JNE  pooled4
	VMAXPS  (CX), Z3, Z3
	VMAXPS  (CX)(AX*1), Z7, Z7
	VMAXPS  (CX)(AX*2), Z11, Z11
	VMAXPS  (CX)(BX*1), Z15, Z15

store4:
	VMOVUPS Z3, (CX)
	VMOVUPS Z7, (CX)(AX*1)
	VMOVUPS Z11, (CX)(AX*2)
	VMOVUPS Z15, (CX)(BX*1)

pooled4:
	ADDQ $64, DX
	JMP  blk4

row4next:
	LEAQ (R13)(AX*4), R13
	ADDQ $32, xr-8(SP)
	SUBQ $4, R12
	JMP  row4

// A row alone: two unit blocks at a time where there are two (eight
// independent FMA chains, enough to hide their latency), in the same
// order of sums as the four-row blocks, so that a row's bits do not
// depend on which block it fell in (nor so on --threads).
row1:
	TESTQ R12, R12
	JZ    done
	MOVQ  xr-8(SP), CX
	MOVQ  0(CX), R8
	XORQ  DX, DX

blk1:
	CMPQ    DX, AX
	JGE     row1next
	LEAQ    64(DX), CX
	CMPQ    CX, AX
	JGE     one1
	MOVQ    b+48(FP), SI
	ADDQ    DX, SI
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(AX*1), Z1
	VMOVUPS (SI)(AX*2), Z2
	VMOVUPS (SI)(BX*1), Z3
	VMOVUPS 64(SI), Z4
	VMOVUPS 64(SI)(AX*1), Z5
	VMOVUPS 64(SI)(AX*2), Z6
	VMOVUPS 64(SI)(BX*1), Z7
	MOVQ    w+8(FP), SI
	ADDQ    DX, SI
	MOVQ    R8, DI
	MOVQ    in+16(FP), CX

in2:
	TESTQ CX, CX
	JZ    in2done
	IFMA8
	DECQ  CX
	JMP   in2

in2done:
	MOVQ hk+40(FP), CX
	MOVQ u+32(FP), SI
	ADDQ DX, SI
	MOVQ h+24(FP), DI
	ADDQ R13, DI

rec2:
	TESTQ CX, CX
	JZ    rec2done
	IFMA8
	DECQ  CX
	JMP   rec2

rec2done:
	MOVQ c+56(FP), SI
	ADDQ R13, SI
	ADDQ DX, SI
	MOVQ hn+64(FP), DI
	ADDQ R13, DI
	ADDQ DX, DI
	IGATES(Z0, Z1, Z2, Z3, (SI), (DI))
	IGATES(Z4, Z5, Z6, Z7, 64(SI), 64(DI))
	MOVQ pool+72(FP), CX
	ADDQ R13, CX
	ADDQ DX, CX
	CMPQ mode+96(FP), $1
	JNE  max2
	VADDPS (CX), Z3, Z3
	VADDPS 64(CX), Z7, Z7
	JMP    store2

max2:
	CMPQ   mode+96(FP), $2
	JNE    pooled2
	VMAXPS (CX), Z3, Z3
	VMAXPS 64(CX), Z7, Z7

store2:
	VMOVUPS Z3, (CX)
	VMOVUPS Z7, 64(CX)

pooled2:
	ADDQ $128, DX
	JMP  blk1

one1:
	MOVQ    b+48(FP), SI
	ADDQ    DX, SI
	ILOAD4
	VMOVAPS Z16, Z0
	VMOVAPS Z17, Z1
	VMOVAPS Z18, Z2
	VMOVAPS Z19, Z3
	MOVQ    w+8(FP), SI
	ADDQ    DX, SI
	MOVQ    R8, DI
	MOVQ    in+16(FP), CX

in1:
	TESTQ        CX, CX
	JZ           in1done
	ILOAD4
	VBROADCASTSS (DI), Z20
	IFMA4(Z20, Z0, Z1, Z2, Z3)
	ADDQ         $4, DI
	LEAQ         (SI)(AX*4), SI
	DECQ         CX
	JMP          in1

in1done:
	MOVQ hk+40(FP), CX
	MOVQ u+32(FP), SI
	ADDQ DX, SI
	MOVQ h+24(FP), DI
	ADDQ R13, DI

rec1:
	TESTQ        CX, CX
	JZ           rec1done
	ILOAD4
	VBROADCASTSS (DI), Z20
	IFMA4(Z20, Z0, Z1, Z2, Z3)
	ADDQ         $4, DI
	LEAQ         (SI)(AX*4), SI
	DECQ         CX
	JMP          rec1

rec1done:
	MOVQ    c+56(FP), SI
	ADDQ    R13, SI
	ADDQ    DX, SI
	MOVQ    hn+64(FP), DI
	ADDQ    R13, DI
	ADDQ    DX, DI
	IGATES(Z0, Z1, Z2, Z3, (SI), (DI))
	MOVQ    pool+72(FP), CX
	ADDQ    R13, CX
	ADDQ    DX, CX
	CMPQ    mode+96(FP), $1
	JNE     max1
	VADDPS  (CX), Z3, Z3
	VMOVUPS Z3, (CX)
	JMP     pooled1

max1:
	CMPQ    mode+96(FP), $2
	JNE     pooled1
	VMAXPS  (CX), Z3, Z3
	VMOVUPS Z3, (CX)

pooled1:
	ADDQ $64, DX
	JMP  blk1

row1next:
	ADDQ AX, R13
	ADDQ $8, xr-8(SP)
	DECQ R12
	JMP  row1

done:
	VZEROUPPER
	RET
