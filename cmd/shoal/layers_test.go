package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces DESIGN.md's direction of imports,
// engine ← edge ← mesh ← serve ← tui/testnet ← cmd, the way tailscale's
// deptest does: `go list -deps` of each layer must not reach a layer above
// it, and engine must stay free of networking, UI and HTTP.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/shoalmesh/shoal/"
	layers := []struct {
		pattern   string
		forbidden []string
	}{
		{"../../engine/...", []string{mod + "edge", mod + "mesh", mod + "serve", mod + "tui", mod + "testnet", mod + "cmd",
			"github.com/libp2p/", "net/http", "charm.land/"}},
		{"../../edge/...", []string{mod + "mesh", mod + "serve", mod + "tui", mod + "testnet", mod + "cmd"}},
		{"../../mesh/...", []string{mod + "serve", mod + "tui", mod + "testnet", mod + "cmd", "charm.land/"}},
		{"../../serve/...", []string{mod + "tui", mod + "testnet", mod + "cmd", "charm.land/"}},
		{"../../testnet/...", []string{mod + "tui", mod + "cmd"}},
		{"../../tui/...", []string{mod + "mesh", mod + "testnet", mod + "cmd", "github.com/libp2p/"}},
	}
	for _, l := range layers {
		out, err := exec.Command("go", "list", "-deps", l.pattern).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", l.pattern, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range l.forbidden {
				if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
					t.Errorf("%s depends on %s, a layer it must not import", l.pattern, dep)
				}
			}
		}
	}
}
