package mesh

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFillDefaultsClipsLongNameToValidUTF8(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ascii", strings.Repeat("a", 100), strings.Repeat("a", maxNameLen)},
		// 2-byte runes: 64 bytes is exactly 32 of them.
		{"two-byte", strings.Repeat("é", 40), strings.Repeat("é", 32)},
		// 3-byte runes: byte 64 is inside the 22nd, which must go whole.
		{"three-byte", strings.Repeat("中", 30), strings.Repeat("中", 21)},
		{"four-byte after ascii", "ab" + strings.Repeat("😀", 20), "ab" + strings.Repeat("😀", 15)},
		{"short", "héllo", "héllo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Name: tc.in}
			if err := fillDefaults(&cfg); err != nil {
				t.Fatalf("fillDefaults(%q): %v", tc.in, err)
			}
			if !utf8.ValidString(cfg.Name) || len(cfg.Name) > maxNameLen {
				t.Fatalf("name clipped to %q (%d bytes, valid UTF-8 %v)", cfg.Name, len(cfg.Name), utf8.ValidString(cfg.Name))
			}
			if cfg.Name != tc.want {
				t.Fatalf("name %q, want %q", cfg.Name, tc.want)
			}
		})
	}
}
