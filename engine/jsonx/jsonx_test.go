package jsonx

import (
	"strings"
	"testing"
)

type doc struct {
	A int    `json:"a"`
	B string `json:"b"`
}

func TestDecodeTable(t *testing.T) {
	cases := []struct {
		name, in string
		strict   bool
		want     string // substring of the error, "" for success
	}{
		{"ok", `{"a":1,"b":"x"}`, true, ""},
		{"ok with spaces", " \n{\"a\":1}\t\n", true, ""},
		{"empty", "", true, "empty"},
		{"blank", "  \n", true, "empty"},
		{"syntax", `{"a":}`, true, "malformed JSON at byte"},
		{"truncated", `{"a":1`, true, "truncated"},
		{"wrong type", `{"a":"one"}`, true, `field "a"`},
		{"not an object", `[1]`, true, "JSON value"},
		{"unknown field strict", `{"a":1,"c":2}`, true, `unknown field "c"`},
		{"unknown field lenient", `{"a":1,"c":2}`, false, ""},
		{"trailing value", `{"a":1}{"a":2}`, true, "trailing data"},
		{"trailing brace", `{"a":1}}`, true, "trailing data"},
		{"trailing bracket", `{"a":1}]`, false, "trailing data"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d doc
			var err error
			if c.strict {
				err = DecodeStrict([]byte(c.in), &d)
			} else {
				err = Decode([]byte(c.in), &d)
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if d.A != 1 {
					t.Fatalf("decoded %+v", d)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1}}`, `{`, ``, `{"b":"\u00e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d doc
		if err := DecodeStrict(b, &d); err != nil {
			return
		}
		// What was accepted decodes the same way leniently.
		var e doc
		if err := Decode(b, &e); err != nil || e != d {
			t.Fatalf("strict accepted %q as %+v; lenient gave %+v, %v", b, d, e, err)
		}
	})
}
