package mesh

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyRoundTripAndFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "swarm.key")
	psk, created, err := LoadOrCreateKey(path)
	if err != nil || !created || len(psk) != 32 {
		t.Fatalf("create: %v %v %d", created, err, len(psk))
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	psk2, created, err := LoadOrCreateKey(path)
	if err != nil || created || !bytes.Equal(psk, psk2) {
		t.Fatalf("reload: %v %v", created, err)
	}
	if err := WriteNewKey(path, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwrite without force: %v", err)
	}
	if err := WriteNewKey(path, true); err != nil {
		t.Fatal(err)
	}
	psk3, err := ReadKey(path)
	if err != nil || bytes.Equal(psk, psk3) {
		t.Fatalf("forced rewrite: %v, same key %v", err, bytes.Equal(psk, psk3))
	}
	if MeshIDOf(psk) == MeshIDOf(psk3) || len(MeshIDOf(psk)) != 16 {
		t.Fatalf("mesh ids %s %s", MeshIDOf(psk), MeshIDOf(psk3))
	}
}

func TestParseKeyMalformed(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"garbage", "hello", "not a swarm.key"},
		{"wrong header", "/key/swarm/psk/2.0.0/\n/base16/\n" + hex64, "not a swarm.key"},
		{"wrong encoding", "/key/swarm/psk/1.0.0/\n/rot13/\n" + hex64, "not a swarm.key"},
		{"short key", "/key/swarm/psk/1.0.0/\n/base16/\nabcd", "not a swarm.key"},
		{"bad hex", "/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("zz", 32), "not a swarm.key"},
		{"huge", strings.Repeat("x", MaxKeyFileSize+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error with %q", err, tc.want)
			}
		})
	}
	if _, err := ParseKey([]byte("/key/swarm/psk/1.0.0/\n/base16/\n" + hex64 + "\n")); err != nil {
		t.Fatalf("valid key refused: %v", err)
	}
}

func FuzzKeyFile(f *testing.F) {
	psk, _ := NewKey()
	f.Add(EncodeKey(psk))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/base16/\n"))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/base64/\nAAAA"))
	f.Add([]byte("/key/swarm/psk/1.0.0/\n/bin/\n" + strings.Repeat("k", 32)))
	f.Fuzz(func(t *testing.T, data []byte) {
		psk, err := ParseKey(data)
		if err != nil {
			return
		}
		if len(psk) != 32 {
			t.Fatalf("accepted a %d-byte key", len(psk))
		}
		again, err := ParseKey(EncodeKey(psk))
		if err != nil || !bytes.Equal(again, psk) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

// TestSecretFilesMustBePrivate: a mesh key or identity that group or
// others may read is refused with the chmod that fixes it, and loads once
// it is private again; a forced rewrite replaces the key in one rename.
func TestSecretFilesMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, KeyFileName)
	if _, _, err := LoadOrCreateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateIdentity(dir); err != nil {
		t.Fatal(err)
	}
	idPath := filepath.Join(dir, IdentityFileName)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o666} {
		for _, tc := range []struct {
			path string
			load func() error
		}{
			{keyPath, func() error { _, err := ReadKey(keyPath); return err }},
			{keyPath, func() error { _, _, err := LoadOrCreateKey(keyPath); return err }},
			{idPath, func() error { _, _, err := LoadOrCreateIdentity(dir); return err }},
		} {
			if err := os.Chmod(tc.path, mode); err != nil {
				t.Fatal(err)
			}
			err := tc.load()
			if err == nil || !strings.Contains(err.Error(), "chmod 600 "+tc.path) || !strings.Contains(err.Error(), "group or others") {
				t.Errorf("%s at %04o: %v; want a refusal naming chmod 600", filepath.Base(tc.path), mode, err)
			}
			if err := os.Chmod(tc.path, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := tc.load(); err != nil {
				t.Errorf("%s at 0600: %v", filepath.Base(tc.path), err)
			}
		}
	}

	// A forced rewrite leaves a private file and no temporary behind.
	if err := WriteNewKey(keyPath, true); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("after --force: %v, %v", st, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
}
