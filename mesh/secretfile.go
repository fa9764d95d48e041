package mesh

import (
	"fmt"
	"os"
	"runtime"
)

// checkSecretMode refuses a secret file (the mesh key, the identity) that
// group or others may read or write, as ssh refuses such a private key:
// whoever can read the mesh key can join the mesh, and whoever can read the
// identity can pose as this node. Tightening the mode silently would hide
// that the secret may already have leaked, so the operator is told what to
// run instead. Windows has no Unix mode bits to check.
func checkSecretMode(f *os.File, what string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, f.Name(), err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s is accessible by group or others (mode %04o): whoever reads it can %s; make it private with: chmod 600 %s",
			what, f.Name(), perm, secretPower[what], f.Name())
	}
	return nil
}

// secretPower says what a leaked secret gives away, for the refusal.
var secretPower = map[string]string{
	"mesh key": "join the mesh",
	"identity": "pose as this node",
}
