package modelstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	return s.publish(name, func(path string) error { return atomicfile.WriteFile(path, data) })
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
		return 0, fmt.Errorf("modelstore: publish %s: %s is %d bytes, limit %d", name, src, st.Size(), modelfile.DefaultMaxFileSize)
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

// SetLabel points label at an existing version of name.
func (s *Store) SetLabel(name, label string, version int) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ValidLabel(label); err != nil {
		return err
	}
	if _, err := s.Path(name, version); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	labels, err := s.readLabels(name)
	if err != nil {
		return err
	}
	labels[label] = version
	return s.writeLabels(name, labels)
}

// RemoveLabel deletes label from name; removing an absent label is not an error.
func (s *Store) RemoveLabel(name, label string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ValidLabel(label); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	labels, err := s.readLabels(name)
	if err != nil {
		return err
	}
	if _, ok := labels[label]; !ok {
		return nil
	}
	delete(labels, label)
	return s.writeLabels(name, labels)
}

// Label returns the version label points at.
func (s *Store) Label(name, label string) (int, error) {
	if err := ValidName(name); err != nil {
		return 0, err
	}
	if err := ValidLabel(label); err != nil {
		return 0, err
	}
	labels, err := s.Labels(name)
	if err != nil {
		return 0, err
	}
	v, ok := labels[label]
	if !ok {
		return 0, fmt.Errorf("%w: label %q of %q", ErrNotFound, label, name)
	}
	return v, nil
}

// Labels returns all labels of name (a new map; empty when there are none).
func (s *Store) Labels(name string) (map[string]int, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	return s.readLabels(name)
}

func (s *Store) readLabels(name string) (map[string]int, error) {
	p := filepath.Join(s.root, name, LabelsFile)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("modelstore: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxLabelsSize+1))
	if err != nil {
		return nil, fmt.Errorf("modelstore: read %s: %w", p, err)
	}
	labels, err := DecodeLabels(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return labels, nil
}

func (s *Store) writeLabels(name string, labels map[string]int) error {
	b, err := json.Marshal(labels) // map keys come out sorted: deterministic
	if err != nil {
		return fmt.Errorf("modelstore: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.root, name, LabelsFile), append(b, '\n')); err != nil {
		return fmt.Errorf("modelstore: labels of %s: %w", name, err)
	}
	return nil
}

// DecodeLabels parses a labels.json: one JSON object mapping valid labels to
// versions >= 1, at most MaxLabelsSize bytes, no duplicate keys.
func DecodeLabels(b []byte) (map[string]int, error) {
	if len(b) > MaxLabelsSize {
		return nil, fmt.Errorf("modelstore: labels file larger than %d bytes", MaxLabelsSize)
	}
	// Token by token rather than jsonx.DecodeStrict into a map: decoding
	// into a map keeps the last of two equal keys without a word, and a
	// labels file with "stable" twice is corrupt, not ambiguous.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("modelstore: bad labels file: "+format, args...)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, bad("%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, bad("not a JSON object")
	}
	labels := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad("%v", err)
		}
		label, ok := tok.(string)
		if !ok {
			return nil, bad("key is not a string")
		}
		if err := ValidLabel(label); err != nil {
			return nil, bad("%v", err)
		}
		if _, dup := labels[label]; dup {
			return nil, bad("duplicate label %q", label)
		}
		tok, err = dec.Token()
		if err != nil {
			return nil, bad("%v", err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, bad("label %q: version is not a number", label)
		}
		v, ok := parseVersion(string(num))
		if !ok {
			return nil, bad("label %q: version %s is not an integer >= 1", label, num)
		}
		labels[label] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad("%v", err)
	}
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, bad("data after the JSON object")
	}
	return labels, nil
}
