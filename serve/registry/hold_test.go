package registry

import (
	"errors"
	"testing"

	"github.com/shoalmesh/shoal/serve/inference"
)

// TestUnloadAndServe: an unloaded model answers no lookup, reports every
// version END "unloaded by the operator", loads no version published
// meanwhile, and after Serve is back with the newest version.
func TestUnloadAndServe(t *testing.T) {
	s := newStore(t)
	publish(t, s, "m", smallArt(t, 1))
	publish(t, s, "m", smallArt(t, 2))
	r := newRegistry(t, s, Options{RescanInterval: -1})
	if m, err := r.Lookup("m", 0, ""); err != nil || m.Version() != 2 {
		t.Fatalf("before: %v, %v", m, err)
	}
	if err := r.Unload("m"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup("m", 0, ""); err == nil {
		t.Fatal("an unloaded model answered a lookup")
	}
	publish(t, s, "m", smallArt(t, 3))
	if err := r.Rescan(); err != nil {
		t.Fatal(err)
	}
	vs, err := r.Versions("m")
	if err != nil || len(vs) != 3 {
		t.Fatalf("versions %v, %v", vs, err)
	}
	for _, v := range vs {
		if v.State != inference.StateEnd || v.Error != StateUnloadedByOperator {
			t.Errorf("version %d while unloaded: %s %q", v.Version, v.State, v.Error)
		}
	}
	if !r.Held("m") || r.Held("x") {
		t.Error("Held")
	}
	if err := r.Serve("m"); err != nil {
		t.Fatal(err)
	}
	if m, err := r.Lookup("m", 0, ""); err != nil || m.Version() != 3 {
		t.Fatalf("after Serve: %v, %v", m, err)
	}
	if err := r.Unload("x"); !errors.Is(err, inference.ErrModelNotFound) {
		t.Errorf("Unload of an unknown model: %v", err)
	}
}
