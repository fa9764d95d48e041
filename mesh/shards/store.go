package shards

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/shoalmesh/shoal/engine/atomicfile"
)

// MaxShardBytes bounds one shard, on disk and on the wire.
const MaxShardBytes = 256 << 20

// Store holds shards in memory and, when it has a directory, on disk, so a
// restarted peer still has what it fetched. It is safe for concurrent use.
// Slices returned by Get must not be modified: they are shared.
type Store struct {
	dir string

	mu     sync.RWMutex
	shards map[ID][]byte
}

// NewStore returns a store. With dir == "" it keeps shards in memory only;
// otherwise it loads the shards already in dir (checking each hash and
// skipping, with an error returned at the end, those that do not match).
func NewStore(dir string) (*Store, error) {
	s := &Store{dir: dir, shards: make(map[ID][]byte)}
	if dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("shard store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("shard store: %w", err)
	}
	var bad []error
	for _, e := range entries {
		id, err := ParseID(e.Name())
		if err != nil || !e.Type().IsRegular() {
			continue // temp files and strangers are not shards
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && Sum(data) != id {
			err = fmt.Errorf("shard %s: content does not match its hash", id.Short())
		}
		if err != nil {
			bad = append(bad, err)
			continue
		}
		s.shards[id] = data
	}
	return s, errors.Join(bad...)
}

// Put stores data under its hash and returns the id. Storing the same bytes
// twice is a no-op. Put keeps data; the caller must not modify it afterwards.
func (s *Store) Put(data []byte) (ID, error) {
	if len(data) > MaxShardBytes {
		return ID{}, fmt.Errorf("shard of %d bytes exceeds the %d-byte limit", len(data), MaxShardBytes)
	}
	id := Sum(data)
	s.mu.RLock()
	_, ok := s.shards[id]
	s.mu.RUnlock()
	if ok {
		return id, nil
	}
	if s.dir != "" {
		if err := atomicfile.WriteFile(filepath.Join(s.dir, id.String()), data); err != nil {
			return ID{}, fmt.Errorf("shard %s: %w", id.Short(), err)
		}
	}
	s.mu.Lock()
	s.shards[id] = data
	s.mu.Unlock()
	return id, nil
}

// PutVerified stores data only if it hashes to want.
func (s *Store) PutVerified(want ID, data []byte) error {
	if got := Sum(data); got != want {
		return fmt.Errorf("shard %s: received bytes hash to %s", want.Short(), got.Short())
	}
	_, err := s.Put(data)
	return err
}

// Get returns the bytes of a shard and whether the store has it.
func (s *Store) Get(id ID) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	data, ok := s.shards[id]
	return data, ok
}

// Has reports whether the store holds id.
func (s *Store) Has(id ID) bool {
	_, ok := s.Get(id)
	return ok
}

// Drop forgets a shard (memory and disk).
func (s *Store) Drop(id ID) error {
	s.mu.Lock()
	delete(s.shards, id)
	s.mu.Unlock()
	if s.dir == "" {
		return nil
	}
	if err := os.Remove(filepath.Join(s.dir, id.String())); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// IDs lists the held shards in a stable order.
func (s *Store) IDs() []ID {
	s.mu.RLock()
	out := make([]ID, 0, len(s.shards))
	for id := range s.shards {
		out = append(out, id)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b ID) int { return slices.Compare(a[:], b[:]) })
	return out
}
