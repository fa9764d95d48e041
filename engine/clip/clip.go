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
	// Only a rune that starts before the cut and ends after it must go.
	// Walking back over every continuation byte instead would also drop
	// stray continuation bytes of invalid input that no rune owns.
	for j := n - 1; j >= 0 && j > n-utf8.UTFMax; j-- {
		if utf8.RuneStart(s[j]) {
			if _, size := utf8.DecodeRuneInString(s[j:]); j+size > n {
				return s[:j]
			}
			break
		}
	}
	return s[:n]
}
