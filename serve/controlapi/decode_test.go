package controlapi

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	cases := []struct {
		name    string
		in      string
		limit   int64
		strict  bool
		wantErr string // substring; "" means success
	}{
		{"ok", `{"name":"a","count":2}`, 64, false, ""},
		{"ok at exact limit", `{"name":"abc"}`, 14, false, ""},
		{"whitespace around", " \n{\"name\":\"a\"}\n ", 64, false, ""},
		{"unknown field lenient", `{"name":"a","extra":1}`, 64, false, ""},
		{"unknown field strict", `{"name":"a","extra":1}`, 64, true, `unknown field "extra"`},
		{"empty", ``, 64, false, "empty JSON document"},
		{"only spaces", "   \n", 64, false, "empty JSON document"},
		{"over limit", `{"name":"abcd"}`, 14, false, "too large"},
		{"truncated", `{"name":"a"`, 64, false, "truncated"},
		{"syntax", `{"name":}`, 64, false, "malformed JSON at byte"},
		{"wrong type", `{"count":"two"}`, 64, false, `field "count"`},
		{"wrong top type", `[1,2]`, 64, false, "want controlapi.body"},
		{"trailing value", `{"name":"a"} {"name":"b"}`, 64, false, "trailing data"},
		{"trailing garbage", `{"name":"a"} x`, 64, false, "trailing data"},
		{"nul bytes", "\x00\x00", 64, false, "malformed JSON"},
		{"bad limit", `{}`, 0, false, "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b body
			var err error
			if c.strict {
				err = DecodeJSONStrict(strings.NewReader(c.in), c.limit, &b)
			} else {
				err = DecodeJSON(strings.NewReader(c.in), c.limit, &b)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, c.wantErr)
			}
		})
	}
	err := DecodeJSON(strings.NewReader(`{"name":"abcd"}`), 5, new(body))
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("over-limit error %v does not wrap ErrTooLarge", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"peers":[{"id":"a","rtt_ns":5}]}`, `{}`, `[]`, `{"peers":null}`, `{"peers":[{"last_seen":"2026-01-01T00:00:00Z"}]}`, "\xff", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 12
		var r PeersResponse
		err := DecodeJSON(bytes.NewReader(data), limit, &r)
		if len(data) > limit && err == nil {
			t.Fatalf("accepted %d bytes over a %d limit", len(data), limit)
		}
		_ = DecodeJSONStrict(bytes.NewReader(data), limit, new(Event))
	})
}

func TestEventDecoder(t *testing.T) {
	at := time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)
	stream := ": shoal events\n\n" +
		"event: peer_joined\ndata: {\"type\":\"peer_joined\",\"time\":\"2026-11-28T16:00:00Z\",\"peer\":{\"id\":\"A\",\"name\":\"a\"}}\n\n" +
		": ping\n\n" +
		"retry: 1000\nid: 7\n\n" + // no data: skipped
		"event: peer_left\r\ndata: {\"time\":\"2026-11-28T16:00:00Z\",\r\ndata: \"peer\":{\"id\":\"B\"},\"reason\":\"timeout\"}\r\n\r\n" + // CRLF, split data, type from event:
		"event: job_progress\rdata: {\"type\":\"job_progress\",\"time\":\"2026-11-28T16:00:00Z\"}\r\r" + // lone CR, unknown type passes
		"event: peer_joined\ndata: {\"type\":\"peer_joined\"" // partial frame at EOF: dropped
	d := NewEventDecoder(strings.NewReader(stream), 0)
	want := []struct {
		typ, peer, reason string
	}{{"peer_joined", "A", ""}, {"peer_left", "B", "timeout"}, {"job_progress", "", ""}}
	for i, w := range want {
		ev, err := d.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Type != w.typ || !ev.Time.Equal(at) || ev.Reason != w.reason {
			t.Errorf("event %d = %+v, want type %s", i, ev, w.typ)
		}
		if (ev.Peer == nil) != (w.peer == "") || (ev.Peer != nil && ev.Peer.ID != w.peer) {
			t.Errorf("event %d peer = %+v, want %q", i, ev.Peer, w.peer)
		}
	}
	if _, err := d.Next(); err == nil || err.Error() != "EOF" {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func TestEventDecoderMalformed(t *testing.T) {
	cases := []struct {
		name, in string
		limit    int
		wantErr  string
	}{
		{"bad json", "data: {nope}\n\n", 0, "malformed JSON"},
		{"no type anywhere", "data: {\"time\":\"2026-11-28T16:00:00Z\"}\n\n", 0, "without a type"},
		{"wrong field type", "data: {\"type\":5}\n\n", 0, `field "type"`},
		{"empty data", "event: x\ndata:\n\n", 0, "empty JSON document"},
		{"line too long", "data: " + strings.Repeat("x", 200) + "\n\n", 64, "too large"},
		{"frame too large", strings.Repeat("data: 12345678\n", 20) + "\n", 64, "too large"},
		{"many comments too large", strings.Repeat(":0123456789\n", 20) + "\n", 64, "too large"},
		{"trailing data", "data: {\"type\":\"a\"} 1\n\n", 0, "trailing data"},
		{"empty stream", "", 0, "EOF"},
		{"id too long", "id: " + strings.Repeat("7", 200) + "\ndata: {\"type\":\"a\"}\n\n", 0, "event id is too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewEventDecoder(strings.NewReader(c.in), c.limit).Next()
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		"event: peer_joined\ndata: {\"type\":\"peer_joined\",\"peer\":{\"id\":\"A\"}}\n\n",
		": ping\n\n",
		"data: {\"type\":\"x\"}\r\n\r\n",
		"data: {\"type\":\"x\",\r\ndata: \"reason\":\"y\"}\r\r",
		"event:\ndata\n\n",
		"\r\r\r\n\n",
		"id: 1a2b-7\nevent: x\ndata: {\"type\":\"x\"}\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 256
		d := NewEventDecoder(bytes.NewReader(data), limit)
		for i := 0; i < len(data)+1; i++ {
			ev, err := d.Next()
			if err != nil {
				return
			}
			if ev.Type == "" {
				t.Fatalf("event without a type accepted: %+v", ev)
			}
			if len(ev.ID) > 3*maxEventID {
				t.Fatalf("id of %d bytes accepted", len(ev.ID))
			}
		}
		t.Fatalf("decoder returned more events than input bytes")
	})
}

func TestParseToken(t *testing.T) {
	cases := []struct{ in, wantErr string }{
		{"0123456789abcdef", ""},
		{"  0123456789abcdef\n", ""},
		{"", "empty"},
		{"short", "too short"},
		{strings.Repeat("a", 600), "too long"},
		{"0123456789 abcdef", "non-printable"},
		{"0123456789abcdeé", "non-printable"},
	}
	for _, c := range cases {
		_, err := ParseToken(c.in)
		if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("ParseToken(%.20q) = %v, want %q", c.in, err, c.wantErr)
		}
	}
}

func TestReadTokenFileMissing(t *testing.T) {
	_, err := NewFromDataDir(DefaultAddr, t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "no API token at ") || strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing token: %v", err)
	}
}

func TestReadTokenFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenFileName)
	if err := os.WriteFile(path, bytes.Repeat([]byte("a"), maxTokenFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTokenFile(path); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized token file: %v", err)
	}
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"0123456789abcdef", " \n", "0123456789 abcdef", "0123456789abcdeé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		// What passes is usable as-is in an Authorization header.
		if len(tok) < minTokenLen || len(tok) > maxTokenLen || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("accepted token %q", tok)
		}
		if again, err := ParseToken(tok); err != nil || again != tok {
			t.Fatalf("re-parse: %q, %v", again, err)
		}
	})
}

func TestEventDecoderIDs(t *testing.T) {
	in := "id: b1-1\nevent: a\ndata: {\"type\":\"a\"}\n\n" +
		"event: b\ndata: {\"type\":\"b\"}\n\n" + // a frame without an id has none
		"id: b1-3\r\ndata: {\"type\":\"c\"}\r\n\r\n"
	d := NewEventDecoder(strings.NewReader(in), 0)
	for _, want := range [][2]string{{"a", "b1-1"}, {"b", ""}, {"c", "b1-3"}} {
		ev, err := d.Next()
		if err != nil || ev.Type != want[0] || ev.ID != want[1] {
			t.Fatalf("event %+v, %v; want type %s id %q", ev, err, want[0], want[1])
		}
	}
}
