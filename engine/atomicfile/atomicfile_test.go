package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func onlyFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "two" {
		t.Fatalf("content %q, want two", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if names := onlyFiles(t, dir); len(names) != 1 {
		t.Fatalf("dir holds %v, want only f", names)
	}
}

func TestFailureKeepsOldContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A failure while filling.
	err := Write(path, func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return errors.New("fill failed")
	})
	if err == nil || !strings.Contains(err.Error(), "fill failed") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want the fill's error naming the path", err)
	}
	// A failure after the temporary file is complete, before the rename.
	testHookBeforeRename = func(tmp string) error {
		if filepath.Dir(tmp) != dir {
			t.Errorf("temp file %s not in the target's directory", tmp)
		}
		if _, err := os.Stat(tmp); err != nil {
			t.Errorf("temp file missing before rename: %v", err)
		}
		return errors.New("injected failure")
	}
	err = WriteFile(path, []byte("new"))
	testHookBeforeRename = nil
	if err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, []byte("old")) {
		t.Fatalf("content %q after failed writes, want old", got)
	}
	if names := onlyFiles(t, dir); len(names) != 1 {
		t.Fatalf("dir holds %v, want only f", names)
	}
}

func TestWriteIntoMissingDirFails(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "no", "f"), []byte("x"))
	if err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
