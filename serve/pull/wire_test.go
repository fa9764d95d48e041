package pull

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // "" ok, else part of the error
	}{
		{"ok latest", string(appendRequest(nil, "digits", "")), ""},
		{"ok version", string(appendRequest(nil, "digits", "12")), ""},
		{"ok label", string(appendRequest(nil, "digits", "stable")), ""},
		{"empty", "", "request"},
		{"bad magic", "SHQ1\x01a\x00", "bad magic"},
		{"short magic", "SH", "request"},
		{"no name length", "SHM1", "name length"},
		{"name cut", "SHM1\x05ab", "request name"},
		{"name too long", "SHM1\xff" + strings.Repeat("a", 255) + "\x00", "at most 64"},
		{"empty name", "SHM1\x00\x00", "empty"},
		{"escaping name", string(appendRequest(nil, "../x", "")), "invalid name"},
		{"no ref length", "SHM1\x01a", "reference length"},
		{"ref cut", "SHM1\x01a\x05ab", "request reference"},
		{"leading zero", string(appendRequest(nil, "a", "01")), "leading zeros"},
		{"bad label", string(appendRequest(nil, "a", "a/b")), "invalid name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readRequest(strings.NewReader(tc.in))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed with %q", err, tc.want)
			}
		})
	}
}

func chunk(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func TestReadAnswer(t *testing.T) {
	hdr := func(v uint32, size uint64) []byte {
		b := []byte{statusOK}
		b = binary.BigEndian.AppendUint32(b, v)
		b = append(b, make([]byte, 32)...)
		return binary.BigEndian.AppendUint64(b, size)
	}
	cat := func(parts ...[]byte) string { return string(bytes.Join(parts, nil)) }
	end := []byte{0, 0, 0, 0}
	for _, tc := range []struct {
		name, in string
		want     error
		text     string
	}{
		{"ok", cat(hdr(1, 5), chunk([]byte("abc")), chunk([]byte("de")), end), nil, ""},
		{"ok empty file", cat(hdr(1, 0), end), nil, ""},
		{"empty", "", ErrMalformed, "status"},
		{"unknown status", "\x07", ErrMalformed, "unknown answer status"},
		{"not found", cat(appendRefusal(nil, statusNotFound, "no such\x1b[2J")), ErrNotFound, "no such?[2J"},
		{"refused", cat(appendRefusal(nil, statusError, "busy")), ErrRefused, "busy"},
		{"message too long", "\x02\xff\xff", ErrMalformed, "at most 1024"},
		{"message cut", "\x02\x00\x09abc", ErrMalformed, "message"},
		{"header cut", cat(hdr(1, 5)[:20]), ErrMalformed, "header"},
		{"version 0", cat(hdr(0, 5)), ErrMalformed, "version 0"},
		{"version too big", cat(hdr(1<<31, 5)), ErrMalformed, "version"},
		{"too large", cat(hdr(1, 1<<40)), ErrTooLarge, "limit"},
		{"no chunks", cat(hdr(1, 5)), ErrMalformed, "chunk length"},
		{"early end", cat(hdr(1, 5), chunk([]byte("abc")), end), ErrMalformed, "ended after 3 of 5"},
		{"overrun", cat(hdr(1, 5), chunk([]byte("abcdef"))), ErrMalformed, "overruns"},
		{"chunk too big", cat(hdr(1, 5), []byte{0, 0x20, 0, 0}), ErrMalformed, "at most"},
		{"chunk cut", cat(hdr(1, 5), chunk([]byte("abcde"))[:6]), ErrMalformed, "chunk after"},
		{"no end", cat(hdr(1, 5), chunk([]byte("abcde"))), ErrMalformed, "chunk length after 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := strings.NewReader(tc.in)
			h, err := readHeader(r, 1<<20)
			var got bytes.Buffer
			if err == nil {
				_, err = readChunks(&got, r, h.Size)
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err %v", err)
				}
				if int64(got.Len()) != h.Size {
					t.Fatalf("got %d bytes, want %d", got.Len(), h.Size)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v with %q", err, tc.want, tc.text)
			}
		})
	}
}

func TestChunksRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for _, bufSize := range []int{5, 100, 4 + len(data), 4 + MaxChunk} {
		var wire bytes.Buffer
		if err := writeChunks(&wire, bytes.NewReader(data), int64(len(data)), make([]byte, bufSize)); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := readChunks(&got, &wire, int64(len(data))); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("buffer %d: %v", bufSize, err)
		}
	}
	// A file shorter than announced is an error on the sending side.
	if err := writeChunks(io.Discard, bytes.NewReader(data[:10]), 20, make([]byte, 64)); err == nil {
		t.Error("short file sent")
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add(appendRequest(nil, "digits", "stable"))
	f.Add(appendRequest(nil, "a", "3"))
	f.Add([]byte("SHM1\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, ref, err := readRequest(bytes.NewReader(b))
		if err != nil {
			return
		}
		// What decodes encodes back to a prefix of the input.
		if enc := appendRequest(nil, name, ref); !bytes.HasPrefix(b, enc) {
			t.Fatalf("%q decoded to %q %q", b, name, ref)
		}
	})
}

func FuzzReadAnswer(f *testing.F) {
	ok := appendHeader(nil, header{Version: 2, Size: 3})
	f.Add(append(append(ok, chunk([]byte("abc"))...), 0, 0, 0, 0))
	f.Add(appendRefusal(nil, statusNotFound, "nope"))
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := readHeader(r, 1<<16)
		if err != nil {
			return
		}
		if h.Size > 1<<16 || h.Version < 1 {
			t.Fatalf("header %+v passed the limits", h)
		}
		n, err := readChunks(io.Discard, r, h.Size)
		if err == nil && n != h.Size {
			t.Fatalf("read %d of %d without an error", n, h.Size)
		}
	})
}
