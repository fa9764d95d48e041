//go:build !amd64 || purego

package qgemm

var useAsmActs = false // a var so that tests can set it on every platform

func maxAbs512(*float32, int) float32 { panic("qgemm: no AVX-512 here") }

func quant512(*uint8, *float32, int, float32, int32, int32) { panic("qgemm: no AVX-512 here") }

func pool2Row512(_, _, _ *float32, _, _ int) float32 { panic("qgemm: no AVX-512 here") }
