package gemm

// PeakLoop returns the widest FMA loop this core runs, the flops one of its
// iterations does and the instruction set's name, or a nil loop where there
// is none (pure Go builds, other architectures). It is what TestPeak and
// bench-engine divide by: a loop of independent FMAs on registers, no
// memory, the core's sustained float32 rate.
func PeakLoop() (loop func(iters int), flopsPerIter float64, isa string) {
	switch {
	case haveAVX512:
		return fmaPeak512, 384, "AVX-512"
	case haveFMAPeak:
		return fmaPeak, 192, "AVX2"
	}
	return nil, 0, ""
}
