package modelstore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/shoalmesh/shoal/engine/atomicfile"
)

// removedPrefix starts the name a folder is renamed to before it is deleted:
// it starts with a dot, so listing never sees it, and a crash between the
// rename and the delete leaves only an ignored ".rm-*" folder behind, safe
// to delete by hand.
const removedPrefix = ".rm-"

// Remove deletes version of name, or, with version 0, every version of name
// and its labels. Labels that point at a removed version are dropped first,
// so no label is ever left naming a missing version. A version folder (or
// the model folder) is renamed aside in one step and then deleted, so a
// reader sees the version either complete or gone. Removing what is not
// there fails with an error wrapping ErrNotFound. Listeners get an
// EventRemoved (Version 0 for the whole model).
//
// A Publish of name that runs at the same time as a Remove of the whole
// model may fail (its temporary folder goes with the model folder); one
// of a single version is unaffected.
func (s *Store) Remove(name string, version int) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if version < 0 {
		return fmt.Errorf("%w: version %d of %q (versions start at 1; 0 means all)", ErrNotFound, version, name)
	}
	var err error
	if version == 0 {
		err = s.removeModel(name)
	} else {
		err = s.removeVersion(name, version)
	}
	if err != nil {
		return err
	}
	s.notify(Event{Kind: EventRemoved, Name: name, Version: version})
	return nil
}

func (s *Store) removeModel(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.root, name)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.IsDir() {
		return fmt.Errorf("%w: model %q", ErrNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("modelstore: remove %s: %w", name, err)
	}
	return s.renameAndDelete(s.root, dir, removedPrefix+name+"-")
}

func (s *Store) removeVersion(name string, version int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.root, name)
	vdir := filepath.Join(dir, strconv.Itoa(version))
	// A version folder counts even without its model file (a broken copy
	// made by hand): removing it is how an operator cleans it up.
	st, err := os.Stat(vdir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.IsDir() {
		return fmt.Errorf("%w: version %d of %q", ErrNotFound, version, name)
	}
	if err != nil {
		return fmt.Errorf("modelstore: remove %s version %d: %w", name, version, err)
	}
	labels, err := s.readLabels(name)
	if err != nil {
		return err
	}
	changed := false
	for l, v := range labels {
		if v == version {
			delete(labels, l)
			changed = true
		}
	}
	if changed {
		if err := s.writeLabels(name, labels); err != nil {
			return err
		}
	}
	return s.renameAndDelete(dir, vdir, removedPrefix+strconv.Itoa(version)+"-")
}

// renameAndDelete renames path to a fresh hidden name inside parent,
// fsyncs parent, then deletes the renamed folder. Caller holds s.mu.
func (s *Store) renameAndDelete(parent, path, prefix string) error {
	aside := filepath.Join(parent, prefix+rand.Text()[:12])
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("modelstore: remove %s: %w", path, err)
	}
	if err := atomicfile.SyncDir(parent); err != nil {
		_ = os.RemoveAll(aside)
		return fmt.Errorf("modelstore: remove %s: %w", path, err)
	}
	// The folder is out of sight already: a leftover is ignored by every
	// reader, so a failed delete does not undo the removal.
	_ = os.RemoveAll(aside)
	return nil
}
