package clip

import (
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"héllo", 2, "h"},  // é is 2 bytes: never half of it
		{"héllo", 3, "hé"}, // exactly after é
		{"中文字", 4, "中"},    // 3-byte runes
		{"中文字", 2, ""},     // not even one rune fits
		{"a😀b", 4, "a"},    // 4-byte rune
		{"a😀b", 5, "a😀"},
	}
	for _, c := range cases {
		if got := String(c.in, c.n); got != c.want {
			t.Errorf("String(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("héllo 中文 😀", 7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		got := String(s, n)
		if len(got) > max(n, 0) && got != s {
			t.Fatalf("String(%q, %d) = %q: too long", s, n, got)
		}
		if len(s) > 0 && s[:len(got)] != got {
			t.Fatalf("not a prefix")
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("String(%q, %d) = %q: invalid UTF-8", s, n, got)
		}
		// Maximal: one more rune would not fit.
		if got != s && len(s) > len(got) {
			_, size := utf8.DecodeRuneInString(s[len(got):])
			if len(got)+size <= n {
				t.Fatalf("String(%q, %d) = %q: a rune more fits", s, n, got)
			}
		}
	})
}
