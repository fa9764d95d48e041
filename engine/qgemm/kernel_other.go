//go:build (!amd64 && !arm64) || purego

package qgemm

import "os"

func available() []kernelSet { return []kernelSet{goKernels} }

var impl = choose(os.Getenv("SHOAL_QGEMM"))

func asmTile(kernelKind, *tile) { panic("qgemm: no assembly kernels here") }
