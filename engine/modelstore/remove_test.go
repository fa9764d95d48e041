package modelstore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRemove(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	cancel := s.Subscribe(func(ev Event) { events = append(events, ev) })
	defer cancel()
	for i := range 3 {
		if _, err := s.Publish("m", model(t, float32(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Publish("other", model(t, 9)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel("m", "stable", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel("m", "also", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel("m", "canary", 3); err != nil {
		t.Fatal(err)
	}
	events = nil

	// One labelled version: its labels go, the others stay.
	if err := s.Remove("m", 2); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.Versions("m"); !slices.Equal(vs, []int{1, 3}) {
		t.Errorf("versions after removing 2: %v", vs)
	}
	if l, _ := s.Labels("m"); len(l) != 1 || l["canary"] != 3 {
		t.Errorf("labels after removing 2: %v", l)
	}
	if len(events) != 1 || events[0] != (Event{Kind: EventRemoved, Name: "m", Version: 2}) || events[0].Kind.String() != "removed" {
		t.Errorf("events %+v", events)
	}
	// Nothing left aside.
	ents, _ := os.ReadDir(filepath.Join(s.Root(), "m"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind %s", e.Name())
		}
	}

	for _, tc := range []struct {
		name    string
		version int
		want    error
	}{
		{"m", 2, ErrNotFound},
		{"m", 7, ErrNotFound},
		{"m", -1, ErrNotFound},
		{"nope", 0, ErrNotFound},
		{"nope", 1, ErrNotFound},
		{"../m", 0, ErrInvalidName},
		{"", 1, ErrInvalidName},
	} {
		if err := s.Remove(tc.name, tc.version); !errors.Is(err, tc.want) {
			t.Errorf("Remove(%q, %d) = %v, want %v", tc.name, tc.version, err, tc.want)
		}
	}
	if len(events) != 1 {
		t.Errorf("failed removals sent events: %+v", events[1:])
	}

	// The whole model with its labels.
	if err := s.Remove("m", 0); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.List(); !slices.Equal(names, []string{"other"}) {
		t.Errorf("List after removing m: %v", names)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "m")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("model folder still there: %v", err)
	}
	if l, err := s.Labels("m"); err != nil || len(l) != 0 {
		t.Errorf("labels of a removed model: %v, %v", l, err)
	}
	ents, _ = os.ReadDir(s.Root())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind %s", e.Name())
		}
	}
	if events[len(events)-1] != (Event{Kind: EventRemoved, Name: "m"}) {
		t.Errorf("last event %+v", events[len(events)-1])
	}
	// A name can be used again and starts from version 1.
	if v, err := s.Publish("m", model(t, 5)); err != nil || v != 1 {
		t.Errorf("publish after remove: %d, %v", v, err)
	}
}

// TestRemoveBrokenVersion: a version folder without its file (copied in by
// hand, cut short) can still be removed.
func TestRemoveBrokenVersion(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish("m", model(t, 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.Root(), "m", "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("m", 2); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.Versions("m"); !slices.Equal(vs, []int{1}) {
		t.Errorf("versions %v", vs)
	}
}
