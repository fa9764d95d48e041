// Package clip shortens strings to a byte budget without splitting a UTF-8
// sequence, for names, error messages and wire fields with a length limit:
// slicing s[:n] can cut a multi-byte rune and leave invalid UTF-8 that a
// peer's decoder then rejects.
package clip

import "unicode/utf8"

// String returns the longest prefix of s of at most n bytes that ends on a
// rune boundary (s itself when it fits; "" when n <= 0).
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
