package main

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/shoalmesh/shoal/"

// stdlibOnlyHelpers are engine packages that import nothing but the
// standard library (serve/controlapi's deps test checks it); the TUI may
// reach them through the control API client without reaching the engine.
var stdlibOnlyHelpers = []string{mod + "engine/jsonx"}

// layer is one row of DESIGN.md's direction of imports: the packages of
// pattern, their tests included, must not depend on anything forbidden, and,
// when only is set, on no package of this module outside it.
type layer struct {
	pattern   string
	forbidden []string
	only      []string
}

// layers is engine ← edge ← mesh ← serve ← tui/testnet ← cmd, plus what
// keeps each layer what it says it is: the engine and the edge hold no
// networking, and the console speaks to a node only through the control
// API client, never through serve, engine or edge, nor through the v1 line
// of Bubble Tea.
var layers = []layer{
	{"./engine/...", []string{mod + "edge", mod + "mesh", mod + "serve", mod + "tui", mod + "testnet", mod + "cmd",
		"github.com/libp2p/", "github.com/multiformats/", "net/http", "charm.land/", "github.com/charmbracelet/"}, nil},
	{"./edge/...", []string{mod + "mesh", mod + "serve", mod + "tui", mod + "testnet", mod + "cmd",
		"github.com/libp2p/", "github.com/multiformats/", "github.com/quic-go/", "net/http", "net/rpc", "net/smtp",
		"charm.land/", "github.com/charmbracelet/"}, nil},
	{"./mesh/...", []string{mod + "serve", mod + "tui", mod + "testnet", mod + "cmd", "charm.land/", "github.com/charmbracelet/"}, nil},
	{"./serve/...", []string{mod + "tui", mod + "testnet", mod + "cmd", "charm.land/", "github.com/charmbracelet/"}, nil},
	{"./testnet/...", []string{mod + "tui", mod + "cmd", "charm.land/", "github.com/charmbracelet/"}, nil},
	{"./tui/...", []string{"github.com/libp2p/", "github.com/multiformats/", "github.com/charmbracelet/bubbletea"},
		append([]string{mod + "tui", mod + "serve/controlapi"}, stdlibOnlyHelpers...)},
}

// TestImportDirection enforces the layers the way tailscale's deptest does:
// `go list -deps -test` of each layer (so test-only imports count too) must
// not reach a layer above it or a forbidden library.
func TestImportDirection(t *testing.T) {
	for _, l := range layers {
		for _, dep := range goList(t, "-deps", "-test", l.pattern) {
			for _, bad := range l.forbidden {
				if under(dep, bad) {
					t.Errorf("%s depends on %s, which it must not import", l.pattern, dep)
				}
			}
			if l.only != nil && strings.HasPrefix(dep, mod) && !strings.HasSuffix(dep, ".test") {
				ok := false
				for _, allowed := range l.only {
					ok = ok || under(dep, allowed)
				}
				if !ok {
					t.Errorf("%s depends on %s; it may use only %v of this module", l.pattern, dep, l.only)
				}
			}
		}
	}
}

// TestEdgeImportsNoNet keeps the edge runtime free of sockets: no package of
// edge, nor its tests, imports package net directly (net/http and the
// libp2p stack are ruled out transitively by TestImportDirection).
func TestEdgeImportsNoNet(t *testing.T) {
	for _, line := range goList(t, "-test", "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./edge/...") {
		if line == "net" {
			t.Errorf("a package of edge imports net")
		}
	}
}

// TestEveryPackageHasALayer makes sure a new folder cannot slip past the
// rules above: every package of the module sits in one of the layers or in
// cmd.
func TestEveryPackageHasALayer(t *testing.T) {
	roots := []string{mod + "cmd"}
	for _, l := range layers {
		roots = append(roots, mod+strings.TrimSuffix(strings.TrimPrefix(l.pattern, "./"), "/..."))
	}
	for _, pkg := range goList(t, "./...") {
		ok := false
		for _, r := range roots {
			ok = ok || under(pkg, r)
		}
		if !ok {
			t.Errorf("package %s is in no layer of the import rules", pkg)
		}
	}
}

// under reports whether pkg is prefix itself or below it; a prefix ending in
// "/" matches any path it begins.
func under(pkg, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(pkg, prefix)
	}
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

// goList runs `go list` from the module root and returns its output split
// into fields; a test variant "p [q.test]" gives p and "[q.test]", and the
// latter matches no prefix.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, out)
	}
	return strings.Fields(string(out))
}
