package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestIdentityFileModeAndReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	sk, created, err := LoadOrCreateIdentity(dir)
	if err != nil || !created {
		t.Fatalf("create: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, IdentityFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreateIdentity(dir)
	if err != nil || created || !again.Equals(sk) {
		t.Fatalf("reload: created=%v err=%v same=%v", created, err, err == nil && again.Equals(sk))
	}
	// No temporary file is left beside it.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("data dir holds %d entries, want only %s", len(ents), IdentityFileName)
	}
}

func TestIdentityFileMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a libp2p private key"},
		{"garbage", []byte("hello"), "not a libp2p private key"},
		{"huge", make([]byte, maxIdentityFileSize+1), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, IdentityFileName), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateIdentity(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func FuzzIdentityFile(f *testing.F) {
	sk, _, _ := crypto.GenerateEd25519Key(nil)
	good, _ := crypto.MarshalPrivateKey(sk)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01, 0x12, 0x40})
	dir := f.TempDir()
	path := filepath.Join(dir, IdentityFileName)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := readIdentity(path)
		if err != nil {
			return
		}
		if _, err := crypto.MarshalPrivateKey(k); err != nil {
			t.Fatalf("accepted a key that does not marshal: %v", err)
		}
	})
}
