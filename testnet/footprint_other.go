//go:build !unix

package testnet

import "time"

// ProcessCPU is not measured here: idle CPU reads 0.
func ProcessCPU() time.Duration { return 0 }
