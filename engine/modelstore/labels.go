package modelstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoalmesh/shoal/engine/atomicfile"
)

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
	if _, err := s.updateLabels(name, func(labels map[string]int) bool {
		labels[label] = version
		return true
	}); err != nil {
		return err
	}
	s.notify(Event{Kind: EventLabelSet, Name: name, Version: version, Label: label})
	return nil
}

// RemoveLabel deletes label from name; removing an absent label is not an error.
func (s *Store) RemoveLabel(name, label string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ValidLabel(label); err != nil {
		return err
	}
	changed, err := s.updateLabels(name, func(labels map[string]int) bool {
		if _, ok := labels[label]; !ok {
			return false
		}
		delete(labels, label)
		return true
	})
	if err != nil || !changed {
		return err
	}
	s.notify(Event{Kind: EventLabelRemoved, Name: name, Label: label})
	return nil
}

// updateLabels reads the labels of name, lets change edit them and writes
// them back when it reports a change, all under s.mu.
func (s *Store) updateLabels(name string, change func(map[string]int) bool) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	labels, err := s.readLabels(name)
	if err != nil {
		return false, err
	}
	if !change(labels) {
		return false, nil
	}
	return true, s.writeLabels(name, labels)
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
