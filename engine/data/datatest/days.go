// Package datatest writes small, deterministic data sets for tests in every
// layer (a job on two peers, a CLI round trip) that need a real data file
// but not a real corpus.
package datatest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DaysTSV writes n rows of two easily told classes ("good …" and "bad …"
// days, alternating) to days.tsv in a fresh temporary dir and returns its
// path; the same n always gives the same file, so the same seed gives the
// same job.
func DaysTSV(t testing.TB, n int) string {
	t.Helper()
	good := []string{"good day", "great day", "happy sunny day", "a good good morning", "nice and good"}
	bad := []string{"bad day", "awful day", "sad rainy day", "a bad bad morning", "terrible and bad"}
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "good\t%s %d\n", good[i/2%len(good)], i%7)
		} else {
			fmt.Fprintf(&b, "bad\t%s %d\n", bad[i/2%len(bad)], i%7)
		}
	}
	path := filepath.Join(t.TempDir(), "days.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
