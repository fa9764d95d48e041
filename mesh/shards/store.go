package shards

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/shoalmesh/shoal/engine/atomicfile"
)

// MaxShardBytes bounds one shard, on disk and on the wire.
const MaxShardBytes = 256 << 20

// Store holds shards: on disk when it has a directory (so a restarted
// peer still has what it fetched), in memory otherwise. A disk store keeps
// only the ids in memory and reads a shard when it is asked for, checking
// its hash again, so a peer holding many shards does not hold them all in
// RAM, and a file corrupted after the start is never handed out. It is
// safe for concurrent use. Slices returned by Get must not be modified.
type Store struct {
	dir string

	mu     sync.RWMutex
	shards map[ID][]byte   // dir == "": the bytes
	onDisk map[ID]struct{} // dir != "": the ids of the files in dir
}

// NewStore returns a store. With dir == "" it keeps shards in memory only;
// otherwise it indexes the shards already in dir, streaming each through
// its hash (nothing is kept in memory) and skipping, with an error returned
// at the end, those that do not match.
func NewStore(dir string) (*Store, error) {
	s := &Store{dir: dir, shards: make(map[ID][]byte), onDisk: make(map[ID]struct{})}
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
		if err := checkFile(filepath.Join(dir, e.Name()), id); err != nil {
			bad = append(bad, err)
			continue
		}
		s.onDisk[id] = struct{}{}
	}
	return s, errors.Join(bad...)
}

// checkFile hashes the file at path without holding it in memory.
func checkFile(path string, id ID) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxShardBytes+1))
	switch {
	case err != nil:
		return fmt.Errorf("shard %s: %w", id.Short(), err)
	case n > MaxShardBytes:
		return fmt.Errorf("shard %s: file larger than the %d-byte limit", id.Short(), MaxShardBytes)
	case ID(h.Sum(nil)) != id:
		return fmt.Errorf("shard %s: content does not match its hash", id.Short())
	}
	return nil
}

// Put stores data under its hash and returns the id. Storing the same bytes
// twice is a no-op. A memory store keeps data; the caller must not modify
// it afterwards.
func (s *Store) Put(data []byte) (ID, error) {
	if len(data) > MaxShardBytes {
		return ID{}, fmt.Errorf("shard of %d bytes exceeds the %d-byte limit", len(data), MaxShardBytes)
	}
	id := Sum(data)
	if s.Has(id) {
		return id, nil
	}
	if s.dir != "" {
		if err := atomicfile.WriteFile(filepath.Join(s.dir, id.String()), data); err != nil {
			return ID{}, fmt.Errorf("shard %s: %w", id.Short(), err)
		}
		s.mu.Lock()
		s.onDisk[id] = struct{}{}
		s.mu.Unlock()
		return id, nil
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

// Get returns the bytes of a shard and whether the store has it. A disk
// store reads the file; one that no longer matches its hash (or cannot be
// read) is dropped, and Get says the store does not have it.
func (s *Store) Get(id ID) ([]byte, bool) {
	s.mu.RLock()
	data, inMem := s.shards[id]
	_, inDir := s.onDisk[id]
	s.mu.RUnlock()
	if inMem || !inDir {
		return data, inMem
	}
	f, err := os.Open(filepath.Join(s.dir, id.String()))
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, MaxShardBytes+1))
		f.Close()
	}
	if err != nil || len(data) > MaxShardBytes || Sum(data) != id {
		_ = s.Drop(id)
		return nil, false
	}
	return data, true
}

// Has reports whether the store holds id.
func (s *Store) Has(id ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, inMem := s.shards[id]
	_, inDir := s.onDisk[id]
	return inMem || inDir
}

// Drop forgets a shard (memory and disk).
func (s *Store) Drop(id ID) error {
	s.mu.Lock()
	delete(s.shards, id)
	delete(s.onDisk, id)
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
	out := make([]ID, 0, len(s.shards)+len(s.onDisk))
	for id := range s.shards {
		out = append(out, id)
	}
	for id := range s.onDisk {
		out = append(out, id)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b ID) int { return slices.Compare(a[:], b[:]) })
	return out
}
