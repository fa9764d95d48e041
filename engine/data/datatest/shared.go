package datatest

import (
	"os"
	"path/filepath"
	"testing"
)

// Files that must be in a folder for it to count as MNIST (the IDX files
// of GoMNIST, as engine/data reads them).
var mnistFiles = []string{
	"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
}

// MNIST returns the MNIST folder SHOAL_MNIST names (make test sets it to
// the folder the Go module proxy gives). Where it is unset or lacks the
// IDX files the test skips, saying why — except under CI=true, where a
// silently skipped real-data test would let a broken feature pass, so the
// test fails instead.
func MNIST(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SHOAL_MNIST")
	if dir == "" {
		Missing(t, "SHOAL_MNIST is not set (make test sets it to the MNIST folder from the Go module cache)")
	}
	for _, f := range mnistFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			Missing(t, "SHOAL_MNIST="+dir+" has no MNIST files: "+err.Error())
		}
	}
	return dir
}

// SMS returns the SMS spam TSV SHOAL_SMS names (make test sets it to
// ../shared/data/sms_spam.tsv); absent, as for MNIST.
func SMS(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SHOAL_SMS")
	if path == "" {
		Missing(t, "SHOAL_SMS is not set (make test sets it to ../shared/data/sms_spam.tsv)")
	}
	if _, err := os.Stat(path); err != nil {
		Missing(t, "SHOAL_SMS="+path+" is absent: "+err.Error())
	}
	return path
}

// Missing ends a test whose shared data is absent: it skips with why,
// or fails under CI=true (CI is meant to have the data).
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI=true, so a test that needs it fails rather than skips", why)
	}
	t.Skip(why)
}

// Waimai returns the Chinese reviews TSV SHOAL_WAIMAI names (make test
// sets it to ../shared/data/waimai_10k.tsv); absent, as for MNIST.
func Waimai(t testing.TB) string {
	t.Helper()
	path := os.Getenv("SHOAL_WAIMAI")
	if path == "" {
		Missing(t, "SHOAL_WAIMAI is not set (make test sets it to ../shared/data/waimai_10k.tsv)")
	}
	if _, err := os.Stat(path); err != nil {
		Missing(t, "SHOAL_WAIMAI="+path+" is absent: "+err.Error())
	}
	return path
}
