package modelstore

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/shoalmesh/shoal/engine/atomicfile"
	"github.com/shoalmesh/shoal/engine/modelfile"
)

const (
	// FileName is the model file inside a version folder.
	FileName = "model.safetensors"
	// LabelsFile holds a model's labels, beside its version folders.
	LabelsFile = "labels.json"
	// MaxNameLen bounds model and label names.
	MaxNameLen = 64
	// MaxLabelsSize bounds labels.json when it is read back.
	MaxLabelsSize = 64 << 10
	// maxPublishTries bounds how often Publish retries when another process
	// takes the version number it chose.
	maxPublishTries = 100
)

var (
	// ErrNotFound: no such model, version or label.
	ErrNotFound = errors.New("modelstore: not found")
	// ErrInvalidName: a model or label name breaks the naming rules.
	ErrInvalidName = errors.New("modelstore: invalid name")
)

// Store is a folder of versioned models. See the package doc for the
// concurrency contract.
type Store struct {
	root string
	mu   sync.Mutex // serializes version choice in Publish and label updates
	subs subscribers
}

// Open returns the store rooted at root, creating the folder if needed.
func Open(root string) (*Store, error) {
	if root == "" {
		return nil, errors.New("modelstore: empty root")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("modelstore: %w", err)
	}
	return &Store{root: root}, nil
}

// Root returns the store's folder.
func (s *Store) Root() string { return s.root }

// ValidName reports whether name may name a model (see the package doc).
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalidName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%w: %q must start with a letter or digit", ErrInvalidName, name)
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: %q holds %q; only letters, digits, '.', '_' and '-' are allowed", ErrInvalidName, name, c)
		}
	}
	return nil
}

// ValidLabel reports whether label may name a label: a valid name that is not
// all digits and not "latest".
func ValidLabel(label string) error {
	if err := ValidName(label); err != nil {
		return err
	}
	if label == "latest" {
		return fmt.Errorf("%w: %q is reserved", ErrInvalidName, label)
	}
	if allDigits(label) {
		return fmt.Errorf("%w: label %q is a number; labels need a non-digit", ErrInvalidName, label)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseVersion accepts the folder names Publish creates: 1, 2, ... in
// decimal without leading zeros.
func parseVersion(s string) (int, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' || !allDigits(s) {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil || v > math.MaxInt32 {
		return 0, false
	}
	return v, true
}

// Publish stores data, an encoded model file, as the next version of name and
// returns that version. data is checked with modelfile.Decode first, so the
// store never holds a corrupt file.
func (s *Store) Publish(name string, data []byte) (version int, err error) {
	if err := ValidName(name); err != nil {
		return 0, err
	}
	if _, err := modelfile.Decode(data); err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}
	v, err := s.publish(name, func(path string) error { return atomicfile.WriteFile(path, data) })
	s.notifyPublished(name, v)
	return v, err
}

// notifyPublished tells the listeners about version v of name, when a
// version folder was placed (v > 0, even if a later fsync failed: readers
// see the folder either way).
func (s *Store) notifyPublished(name string, v int) {
	if v > 0 {
		s.notify(Event{Kind: EventPublished, Name: name, Version: v})
	}
}

// PublishFile reads and checks the model file at src and publishes it as the
// next version of name.
func (s *Store) PublishFile(name, src string) (version int, err error) {
	if err := ValidName(name); err != nil {
		return 0, err
	}
	// Check the size before reading: Decode's limit would only apply after
	// the whole file is in memory.
	if st, err := os.Stat(src); err == nil && st.Size() > modelfile.DefaultMaxFileSize {
		return 0, fmt.Errorf("modelstore: publish %s: %s is %d bytes, limit %d", name, src, st.Size(), int64(modelfile.DefaultMaxFileSize))
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}
	return s.Publish(name, b)
}

// PublishModel writes tensors and meta with modelfile.Write as the next
// version of name, and returns the version and the content hash.
func (s *Store) PublishModel(name string, tensors []modelfile.Tensor, meta map[string]string) (version int, sha256hex string, err error) {
	if err := ValidName(name); err != nil {
		return 0, "", err
	}
	v, err := s.publish(name, func(path string) error {
		sum, err := modelfile.Write(path, tensors, meta)
		sha256hex = sum
		return err
	})
	s.notifyPublished(name, v)
	if err != nil {
		return 0, "", err
	}
	return v, sha256hex, nil
}

// testHookBeforeRename, set by tests, runs between Publish's choice of a
// version number and its rename, where another process could take the number.
var testHookBeforeRename func(dir string, next int)

// publish fills a temporary folder with fill(path of the model file) and
// renames it to the next free version number.
func (s *Store) publish(name string, fill func(path string) error) (int, error) {
	dir := filepath.Join(s.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}
	if err := atomicfile.SyncDir(s.root); err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}
	placed := false
	defer func() {
		if !placed {
			_ = os.RemoveAll(tmp) // best effort; a leftover is ignored anyway
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}
	// The file is written by an atomic write of its own, which fsyncs the
	// file and tmp, so the renamed folder is complete on disk.
	if err := fill(filepath.Join(tmp, FileName)); err != nil {
		return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for range maxPublishTries {
		vs, err := s.versions(name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, err
		}
		next := 1
		if len(vs) > 0 {
			next = vs[len(vs)-1] + 1
		}
		if testHookBeforeRename != nil {
			testHookBeforeRename(dir, next)
		}
		err = os.Rename(tmp, filepath.Join(dir, strconv.Itoa(next)))
		if err == nil {
			placed = true
			if err := atomicfile.SyncDir(dir); err != nil {
				return next, fmt.Errorf("modelstore: publish %s version %d: %w", name, next, err)
			}
			return next, nil
		}
		// On Linux renaming onto a non-empty folder fails with ENOTEMPTY or
		// EEXIST; syscall.Errno matches both to fs.ErrExist.
		if !errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("modelstore: publish %s: %w", name, err)
		}
		// Another process took that number meanwhile: look again.
	}
	return 0, fmt.Errorf("modelstore: publish %s: version numbers kept being taken by another writer", name)
}

// Versions returns the versions of name in ascending order, or ErrNotFound
// when the model has none.
func (s *Store) Versions(name string) ([]int, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	return s.versions(name)
}

func (s *Store) versions(name string) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: model %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("modelstore: %w", err)
	}
	var vs []int
	for _, e := range ents {
		if v, ok := parseVersion(e.Name()); ok && e.IsDir() {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: model %q has no versions", ErrNotFound, name)
	}
	slices.Sort(vs)
	return vs, nil
}

// Latest returns the newest (largest) version of name.
func (s *Store) Latest(name string) (int, error) {
	vs, err := s.Versions(name)
	if err != nil {
		return 0, err
	}
	return vs[len(vs)-1], nil
}

// Path returns the model file of a version, or ErrNotFound if it is absent.
func (s *Store) Path(name string, version int) (string, error) {
	if err := ValidName(name); err != nil {
		return "", err
	}
	if version < 1 {
		return "", fmt.Errorf("%w: version %d of %q (versions start at 1)", ErrNotFound, version, name)
	}
	p := filepath.Join(s.root, name, strconv.Itoa(version), FileName)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: version %d of %q", ErrNotFound, version, name)
		}
		return "", fmt.Errorf("modelstore: %w", err)
	}
	return p, nil
}

// Resolve turns a reference into a version: "" or "latest" is the newest
// version, a number is that version (if present), anything else a label.
func (s *Store) Resolve(name, ref string) (int, error) {
	switch {
	case ref == "" || ref == "latest":
		return s.Latest(name)
	case allDigits(ref):
		v, ok := parseVersion(ref)
		if !ok {
			return 0, fmt.Errorf("%w: version %q of %q", ErrNotFound, ref, name)
		}
		if _, err := s.Path(name, v); err != nil {
			return 0, err
		}
		return v, nil
	}
	return s.Label(name, ref)
}

// List returns the names of the models that have at least one version,
// sorted.
func (s *Store) List() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("modelstore: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() || ValidName(e.Name()) != nil {
			continue
		}
		if _, err := s.versions(e.Name()); err == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
