//go:build !purego

package main

import "golang.org/x/sys/cpu"

//go:noescape
func fmaLoop512(n int)

//go:noescape
func fmaLoop256(n int)

// fmaLoop returns the widest FMA loop this core runs, the flops one of its
// iterations does and the instruction set's name; nil where there is none.
func fmaLoop() (loop func(int), flopsPerIter float64, isa string) {
	switch {
	case cpu.X86.HasAVX512F:
		return fmaLoop512, 384, "AVX-512"
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return fmaLoop256, 192, "AVX2"
	}
	return nil, 0, ""
}
