package mesh

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// MaxKeyFileSize bounds what ParseKey reads. A v1 swarm key is about 90
// bytes; anything much larger is not a key file and is refused before
// it is parsed.
const MaxKeyFileSize = 1 << 10

// KeyFileName is the mesh key's file name inside a data dir.
const KeyFileName = "swarm.key"

// ParseKey decodes an IPFS swarm.key v1 file (header "/key/swarm/psk/1.0.0/",
// encoding "/base16/", 64 hex characters). It never panics on bad input.
func ParseKey(data []byte) (pnet.PSK, error) {
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("mesh key: file is %d bytes, more than the %d a swarm.key v1 can be", len(data), MaxKeyFileSize)
	}
	if len(data) == 0 {
		return nil, errors.New("mesh key: file is empty")
	}
	psk, err := pnet.DecodeV1PSK(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("mesh key: not a swarm.key v1 file (/key/swarm/psk/1.0.0/, /base16/, 64 hex chars): %w", err)
	}
	if len(psk) != 32 {
		return nil, fmt.Errorf("mesh key: key is %d bytes, want 32", len(psk))
	}
	return psk, nil
}

// ReadKey reads and parses the key file at path.
func ReadKey(path string) (pnet.PSK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mesh key: %w", err)
	}
	defer f.Close()
	if err := checkSecretMode(f, "mesh key"); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("mesh key %s: %w", path, err)
	}
	psk, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return psk, nil
}

// EncodeKey renders psk in the swarm.key v1 format.
func EncodeKey(psk pnet.PSK) []byte {
	return []byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(psk) + "\n")
}

// NewKey returns 32 fresh random bytes as a pre-shared key.
func NewKey() (pnet.PSK, error) {
	psk := make([]byte, 32)
	if _, err := rand.Read(psk); err != nil {
		return nil, err
	}
	return psk, nil
}

// WriteNewKey writes a fresh key to path (mode 0600, parent dirs 0700). It
// refuses to replace an existing file unless force is set, because a lost
// key cuts the machine off from its mesh.
func WriteNewKey(path string, force bool) error {
	psk, err := NewKey()
	if err != nil {
		return err
	}
	return writeKey(path, psk, force)
}

// writeKey writes the key to a private temporary file beside path, then
// links it into place (refusing an existing file) or, with force, renames
// it over the old one: either way a crash leaves the old key or the new
// one, never a truncated file.
func writeKey(path string, psk pnet.PSK, force bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	exists := func() error {
		return fmt.Errorf("mesh key %s already exists (use --force to replace it; peers with the old key will no longer reach this one)", path)
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return exists()
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(EncodeKey(psk)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if force {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return exists()
		}
		return err
	}
	return nil
}

// LoadOrCreateKey reads the key at path, or writes a new one there when the
// file does not exist; created says which happened.
func LoadOrCreateKey(path string) (psk pnet.PSK, created bool, err error) {
	psk, err = ReadKey(path)
	if err == nil {
		return psk, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	psk, err = NewKey()
	if err != nil {
		return nil, false, err
	}
	if err := writeKey(path, psk, false); err != nil {
		// Another process may have created it between our read and write.
		if psk2, err2 := ReadKey(path); err2 == nil {
			return psk2, false, nil
		}
		return nil, false, err
	}
	return psk, true, nil
}

// MeshIDOf is the short public name of the mesh a key defines: the first 8
// bytes of SHA-256 over a domain tag and the key, in hex. It names topics and
// protocols so two meshes never mix, and reveals nothing usable about the key.
func MeshIDOf(psk pnet.PSK) string {
	h := sha256.New()
	h.Write([]byte("shoal mesh id v1\x00"))
	h.Write(psk)
	return hex.EncodeToString(h.Sum(nil)[:8])
}
