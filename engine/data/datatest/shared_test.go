package datatest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	ended string // "skip: …" or "fatal: …"
}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.ended = "skip: " + args[0].(string)
	panic(r)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.ended = "fatal: " + format
	panic(r)
}

func run(t *testing.T, f func(testing.TB) string) (got, ended string) {
	r := &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != any(r) {
			panic(p)
		}
	}()
	defer func() { ended = r.ended }()
	return f(r), ""
}

func TestMissingSharedDataSkipsOrFailsUnderCI(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, mnist, ci, want string
	}{
		{"unset", "", "", "skip: SHOAL_MNIST is not set"},
		{"unset under CI", "", "true", "fatal: "},
		{"empty folder", dir, "", "skip: SHOAL_MNIST=" + dir + " has no MNIST files"},
		{"empty folder under CI", dir, "true", "fatal: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SHOAL_MNIST", tc.mnist)
			t.Setenv("CI", tc.ci)
			_, ended := run(t, MNIST)
			if !strings.HasPrefix(ended, tc.want) {
				t.Errorf("ended %q, want %q…", ended, tc.want)
			}
		})
	}
	for _, f := range mnistFiles {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SHOAL_MNIST", dir)
	t.Setenv("CI", "true")
	if got, ended := run(t, MNIST); got != dir || ended != "" {
		t.Errorf("complete folder: %q, ended %q", got, ended)
	}
	t.Setenv("SHOAL_SMS", filepath.Join(dir, "absent.tsv"))
	if _, ended := run(t, SMS); !strings.HasPrefix(ended, "fatal: ") {
		t.Errorf("absent SMS under CI ended %q", ended)
	}
	t.Setenv("CI", "")
	if _, ended := run(t, SMS); !strings.Contains(ended, "absent.tsv is absent") {
		t.Errorf("absent SMS ended %q", ended)
	}
}
