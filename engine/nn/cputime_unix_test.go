//go:build unix

package nn

import (
	"syscall"
	"time"
)

// cpuTime is this process's user+system CPU time, to report CPU µs per
// batch beside wall µs: on a loaded machine the wall time also counts the
// time the benchmark waited for a core (ort_ref.js reports its share as
// cpu_seconds_per_wall_second).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
