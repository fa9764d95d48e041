//go:build !amd64 || purego

package main

// fmaLoop: no assembly FMA loop on this platform, so no peak is measured
// and the %-of-peak columns stay empty.
func fmaLoop() (loop func(int), flopsPerIter float64, isa string) { return nil, 0, "" }
