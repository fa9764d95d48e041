//go:build !unix

package nn

import "time"

// cpuTime is not measured here: the benchmark's cpu-us/batch reads 0.
func cpuTime() time.Duration { return 0 }
