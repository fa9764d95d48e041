package controlapi

import (
	"os/exec"
	"strings"
	"testing"
)

// stdlibOnlyHelpers are the shared helpers this package may use although they
// live in engine: they import nothing but the standard library (checked
// below), so the TUI still reaches no part of the node through them.
var stdlibOnlyHelpers = map[string]bool{
	"github.com/shoalmesh/shoal/engine/jsonx": true,
}

// TestNoHeavyDeps keeps this package light: the TUI imports it, and must not
// drag in libp2p or the rest of the node (see DESIGN.md, "direction of
// imports").
func TestNoHeavyDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if stdlibOnlyHelpers[dep] {
			continue
		}
		for _, bad := range []string{"github.com/libp2p/", "github.com/multiformats/", "github.com/shoalmesh/shoal/mesh", "github.com/shoalmesh/shoal/engine", "github.com/shoalmesh/shoal/serve"} {
			if strings.HasPrefix(dep, bad) && dep != "github.com/shoalmesh/shoal/serve/controlapi" {
				t.Errorf("controlapi depends on %s", dep)
			}
		}
	}
}

// TestHelpersStayStdlibOnly fails when a helper of stdlibOnlyHelpers grows a
// dependency outside the standard library, which would let it carry the
// node's weight into the TUI.
func TestHelpersStayStdlibOnly(t *testing.T) {
	for pkg := range stdlibOnlyHelpers {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep != pkg {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
