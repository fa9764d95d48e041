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
// Ed25519 key (mode 0600) on first start. The peer id derives from it, so the
// same data dir always gives the same peer id.
func LoadOrCreateIdentity(dir string) (crypto.PrivKey, bool, error) {
	path := filepath.Join(dir, IdentityFileName)
	f, err := os.Open(path)
	if err == nil {
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxIdentityFileSize+1))
		if err != nil {
			return nil, false, fmt.Errorf("identity %s: %w", path, err)
		}
		if len(data) > maxIdentityFileSize {
			return nil, false, fmt.Errorf("identity %s: file larger than %d bytes, not a key", path, maxIdentityFileSize)
		}
		sk, err := crypto.UnmarshalPrivateKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("identity %s: %w", path, err)
		}
		return sk, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	sk, _, err := crypto.GenerateEd25519Key(nil)
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
	nf, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	if _, err := nf.Write(data); err != nil {
		nf.Close()
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	if err := nf.Close(); err != nil {
		return nil, false, fmt.Errorf("identity: %w", err)
	}
	return sk, true, nil
}
