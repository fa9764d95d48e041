//go:build !purego

package qgemm

import "golang.org/x/sys/cpu"

// useAsmActs: the AVX-512 loops of acts_amd64.s. They serve every kernel
// set that quantizes with the same rule (they take levels and shift), so
// an AVX2 run on this machine uses them too; tests turn them off to check
// them against the Go loop.
var useAsmActs = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

// maxAbs512 returns max |x[i]| over n floats, n >= 1.
//
//go:noescape
func maxAbs512(x *float32, n int) float32

// quant512 writes n codes (n >= 1) as code() does.
//
//go:noescape
func quant512(dst *uint8, x *float32, n int, inv float32, shift, levels int32)

// pool2Row512 writes one row of a 2×2, stride 2 max pool: wo pixels of c
// channels (c a positive multiple of 16) from rows r0 and r1, and returns
// the largest |value| written.
//
//go:noescape
func pool2Row512(dst, r0, r1 *float32, wo, c int) float32
