//go:build !purego

package qgemm

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestSDOTChosen: on a core with the dot-product extension the SDOT
// kernels are the default (run the arm64 tests under qemu-aarch64 -cpu
// max to cover them, -cpu cortex-a53 for the Go fallback).
func TestSDOTChosen(t *testing.T) {
	want := "go"
	if cpu.ARM64.HasASIMDDP {
		want = "sdot"
	}
	if got := choose("").name; got != want {
		t.Fatalf("kernel %q, want %q (HasASIMDDP %v)", got, want, cpu.ARM64.HasASIMDDP)
	}
	if got := choose("go").name; got != "go" {
		t.Fatalf("SHOAL_QGEMM=go gives %q", got)
	}
}
