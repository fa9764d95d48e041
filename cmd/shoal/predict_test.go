package main

import (
	"strings"
	"testing"
)

func TestParseVectors(t *testing.T) {
	ok := []struct {
		in   string
		rows int
	}{
		{`[0, 0.5, 1]`, 1},
		{` [1e-3] `, 1},
		{`[[1,2],[3,4],[5,6]]`, 3},
	}
	for _, c := range ok {
		vs, err := parseVectors(c.in)
		if err != nil || len(vs) != c.rows {
			t.Errorf("parseVectors(%s) = %d rows, %v; want %d rows", c.in, len(vs), err, c.rows)
		}
	}
	bad := []struct{ in, want string }{
		{``, "JSON array"},
		{`hello`, "JSON array"},
		{`[1,2`, "JSON array"},
		{`[]`, "non-empty"},
		{`{"a":1}`, "non-empty"},
		{`3`, "non-empty"},
		{`[1,2] [3]`, "more after it"},
		{`[1,2]]`, "more after it"},
		{`[1,2]}`, "more after it"},
		{`[[1,2],3]`, "element 2"},
	}
	for _, c := range bad {
		if _, err := parseVectors(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseVectors(%q) err = %v, want it to mention %q", c.in, err, c.want)
		}
	}
}

// FuzzParseVectors: no input line makes parseVectors panic, and what it
// accepts is a non-empty list of arrays.
func FuzzParseVectors(f *testing.F) {
	for _, s := range []string{`[0,1]`, `[[1],[2]]`, `[1]]`, `[`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vs, err := parseVectors(s)
		if err != nil {
			return
		}
		if len(vs) == 0 {
			t.Fatalf("parseVectors(%q) accepted nothing", s)
		}
		for i, v := range vs {
			if _, ok := v.([]any); !ok {
				t.Fatalf("parseVectors(%q): row %d is %T, not an array", s, i, v)
			}
		}
	})
}
