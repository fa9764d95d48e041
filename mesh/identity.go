package mesh

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/adrg/xdg"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// IdentityFileName is the node's Ed25519 private key inside a data dir.
const IdentityFileName = "identity.key"

// maxIdentityFileSize bounds the identity file read; an Ed25519 key in the
// libp2p protobuf envelope is 68 bytes.
const maxIdentityFileSize = 4 << 10

// DefaultDataDir is where a node keeps its identity, key and models when
// neither --data-dir nor SHOAL_DATA_DIR says otherwise: $XDG_DATA_HOME/shoal.
func DefaultDataDir() string {
	if d := os.Getenv("SHOAL_DATA_DIR"); d != "" {
		return d
	}
	return filepath.Join(xdg.DataHome, "shoal")
}

// LoadOrCreateIdentity reads the node's private key from dir, creating an
// Ed25519 key (mode 0600) on first start; created says which happened. The
// peer id derives from it, so the same data dir always gives the same peer id.
//
// A new key is written to a temporary file and linked into place, so a
// crash never leaves a truncated identity behind, and of two processes
// starting on one data dir at once both end up with the key that won.
func LoadOrCreateIdentity(dir string) (sk crypto.PrivKey, created bool, err error) {
	path := filepath.Join(dir, IdentityFileName)
	sk, err = readIdentity(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return sk, false, err
	}
	sk, _, err = crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, false, err
	}
	data, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+IdentityFileName+"-*")
	if err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; say so explicitly, as for every secret.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			sk, err = readIdentity(path)
			return sk, false, err
		}
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	return sk, true, nil
}

// readIdentity reads and parses an identity file; a missing file gives an
// error matching fs.ErrNotExist.
func readIdentity(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("identity: %w", err)
	}
	defer f.Close()
	if err := checkSecretMode(f, "identity"); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	if len(data) > maxIdentityFileSize {
		return nil, fmt.Errorf("identity %s: file larger than %d bytes, not a key", path, maxIdentityFileSize)
	}
	sk, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity %s: not a libp2p private key: %w", path, err)
	}
	return sk, nil
}
