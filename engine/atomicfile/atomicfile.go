// Package atomicfile writes files so that a reader, or the next start after
// a crash, sees either the old content or the new, never a part of it: a
// temporary file in the target's directory, fsync, rename, directory fsync.
// Models, checkpoints, job records and shards all go through it.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// testHookBeforeRename, when set by a test, runs after the temporary file is
// complete and before it is renamed into place; an error aborts the write.
var testHookBeforeRename func(tmp string) error

// WriteFile atomically writes data to path with mode 0644.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically writes what fill writes (buffered) to path with mode
// 0644. On any error path is left as it was and no temporary file remains.
func Write(path string, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the error is beside the point
			_ = os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = fill(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if testHookBeforeRename != nil {
		if err = testHookBeforeRename(tmp); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable only once the directory is synced. The file is in
	// place now, so a failure here must not remove it; report it all the same.
	if derr := SyncDir(dir); derr != nil {
		return fmt.Errorf("write %s: %w", path, derr)
	}
	return nil
}

// SyncDir fsyncs a directory so that renames and creations in it survive a
// crash (the model store renames whole version folders and calls it).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems refuse fsync on directories; nothing more can be done there.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}
