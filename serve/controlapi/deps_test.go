package controlapi

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHeavyDeps keeps this package light: the TUI imports it, and must not
// drag in libp2p or the rest of the node (see DESIGN.md, "direction of
// imports").
func TestNoHeavyDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/libp2p/", "github.com/multiformats/", "github.com/shoalmesh/shoal/mesh", "github.com/shoalmesh/shoal/engine", "github.com/shoalmesh/shoal/serve"} {
			if strings.HasPrefix(dep, bad) && dep != "github.com/shoalmesh/shoal/serve/controlapi" {
				t.Errorf("controlapi depends on %s", dep)
			}
		}
	}
}
