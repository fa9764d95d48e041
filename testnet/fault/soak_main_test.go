//go:build soak

package fault

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The soak scenarios (issue 16) run real `shoal up` processes; they are
// behind the soak build tag and run by make soak-short (CI: 4 peers, small
// data) and make soak (8 peers, a slice of MNIST where SHOAL_MNIST names
// it). SOAK_SCALE=short|full picks the scale; SHOAL_SOAK_BIN a prebuilt
// binary instead of building ./cmd/shoal.

// scale is how big the scenarios are.
type scale struct {
	Name         string
	N            int           // peers
	PartitionFor time.Duration // how long the halves stay apart
	Loss2        int           // a second, heavier loss run (0: none)
}

var (
	shortScale = scale{Name: "short", N: 4, PartitionFor: 40 * time.Second}
	fullScale  = scale{Name: "full", N: 8, PartitionFor: 45 * time.Second, Loss2: 5}
)

func soakScale() scale {
	if os.Getenv("SOAK_SCALE") == "full" {
		return fullScale
	}
	return shortScale
}

var shoalBin string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if b := os.Getenv("SHOAL_SOAK_BIN"); b != "" {
			shoalBin = b
		} else {
			dir, err := os.MkdirTemp("", "shoal-soak-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			shoalBin = filepath.Join(dir, "shoal")
			start := time.Now()
			out, err := exec.Command("go", "build", "-o", shoalBin, "github.com/shoalmesh/shoal/cmd/shoal").CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "soak: go build ./cmd/shoal: %v\n%s", err, out)
				return 1
			}
			fmt.Printf("soak: built shoal in %v\n", time.Since(start).Round(time.Second))
		}
		code := m.Run()
		printTable(os.Stdout)
		if path := os.Getenv("SOAK_REPORT"); path != "" {
			if f, err := os.Create(path); err == nil {
				printTable(f)
				f.Close()
			}
		}
		return code
	}()
	os.Exit(code)
}

// row is one scenario's line in the table.
type row struct {
	name     string
	mode     string
	figures  []string
	status   string
	took     time.Duration
	findings int
}

var (
	tableMu sync.Mutex
	table   []*row
)

// newRow starts the table line of the calling scenario; its status is set
// when the test ends.
func newRow(t *testing.T, name string) *row {
	r := &row{name: name, status: "RUN"}
	start := time.Now()
	tableMu.Lock()
	table = append(table, r)
	tableMu.Unlock()
	t.Cleanup(func() {
		tableMu.Lock()
		defer tableMu.Unlock()
		r.took = time.Since(start)
		switch {
		case t.Skipped():
			r.status = "SKIP"
		case t.Failed():
			r.status = "FAIL"
		case r.findings > 0:
			r.status = "FIND"
		default:
			r.status = "PASS"
		}
	})
	return r
}

// add records a measured figure and logs it.
func (r *row) add(t *testing.T, format string, args ...any) {
	t.Helper()
	s := fmt.Sprintf(format, args...)
	t.Log(s)
	tableMu.Lock()
	r.figures = append(r.figures, s)
	tableMu.Unlock()
}

// finding records an expectation of issue 16 that the current code does
// not meet: the scenario's hard checks still decide pass or fail, unless
// SOAK_STRICT is set, when a finding fails the test too.
func (r *row) finding(t *testing.T, format string, args ...any) {
	t.Helper()
	s := "FINDING: " + fmt.Sprintf(format, args...)
	if os.Getenv("SOAK_STRICT") != "" {
		t.Error(s)
	} else {
		t.Log(s)
	}
	tableMu.Lock()
	r.figures = append(r.figures, s)
	r.findings++
	tableMu.Unlock()
}

func printTable(w io.Writer) {
	tableMu.Lock()
	defer tableMu.Unlock()
	if len(table) == 0 {
		return
	}
	sc := soakScale()
	fmt.Fprintf(w, "\nsoak (%s scale: %d peers), %s, %d CPUs, %s\n", sc.Name, sc.N, time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOARCH)
	rows := append([]*row(nil), table...)
	fmt.Fprintf(w, "%-34s %-8s %-5s %7s  %s\n", "scenario", "mode", "", "took", "measured")
	for _, r := range rows {
		figs := r.figures
		if len(figs) == 0 {
			figs = []string{""}
		}
		for k, f := range figs {
			if k == 0 {
				fmt.Fprintf(w, "%-34s %-8s %-5s %6.0fs  %s\n", r.name, r.mode, r.status, r.took.Seconds(), f)
			} else {
				fmt.Fprintf(w, "%-34s %-8s %-5s %7s  %s\n", "", "", "", "", f)
			}
		}
	}
	fails, finds := 0, 0
	for _, r := range rows {
		switch r.status {
		case "FAIL":
			fails++
		case "FIND":
			finds++
		}
	}
	fmt.Fprintf(w, "%s\n", strings.Repeat("-", 60))
	if finds > 0 {
		fmt.Fprintf(w, "FIND: the scenario's hard checks passed, but shoal misses an expectation of issue 16 (the FINDING lines); SOAK_STRICT=1 fails on them\n")
	}
	if fails > 0 {
		fmt.Fprintf(w, "soak: %d of %d scenarios FAILED\n", fails, len(rows))
	} else {
		fmt.Fprintf(w, "soak: none of %d scenarios failed (%d with findings)\n", len(rows), finds)
	}
}
