package fault

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestProcessCPU: a busy loop shows as this process's CPU time, no more
// of it than the wall time allows, and a process that does not exist is
// an error.
func TestProcessCPU(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var d time.Duration
	for x := 0; d < 100*time.Millisecond; x++ {
		if x%(1<<20) == 0 {
			now, err := ProcessCPU(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			d = now - before
			if time.Since(start) > 30*time.Second {
				t.Fatalf("30 s of a busy loop added %v of CPU time", d)
			}
		}
	}
	// The process's other goroutines (the test runner's) may add a little.
	if wall := time.Since(start); d > time.Duration(runtime.NumCPU())*wall+20*time.Millisecond {
		t.Fatalf("%v of CPU time in %v of wall time on %d CPUs", d, wall, runtime.NumCPU())
	}
	if _, err := ProcessCPU(1 << 30); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}
