package modelfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadHeaderMatchesRead: the header of a written file names the same
// tensors, shapes, sizes and metadata that Read finds, without the data.
func TestReadHeaderMatchesRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if _, err := Write(path, sampleTensors(2), sampleMeta()); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if h.FileBytes != st.Size() || h.HeaderBytes <= 0 || h.HeaderBytes >= h.FileBytes {
		t.Fatalf("sizes: file %d header %d (stat %d)", h.FileBytes, h.HeaderBytes, st.Size())
	}
	if len(h.Tensors) != len(f.Tensors) {
		t.Fatalf("%d tensors, Read found %d", len(h.Tensors), len(f.Tensors))
	}
	var sum int64
	for i, ht := range h.Tensors {
		ft := f.Tensors[i]
		if ht.Name != ft.Name || ht.DType != ft.DType || ht.Bytes != int64(len(ft.Data)) || len(ht.Shape) != len(ft.Shape) {
			t.Errorf("tensor %d: header %+v, file %s %s %v (%d bytes)", i, ht, ft.Name, ft.DType, ft.Shape, len(ft.Data))
		}
		sum += ht.Bytes
	}
	if sum != h.FileBytes-8-h.HeaderBytes {
		t.Errorf("tensor bytes %d, data section %d", sum, h.FileBytes-8-h.HeaderBytes)
	}
	for k, v := range sampleMeta() {
		if h.Meta[k] != v {
			t.Errorf("meta %q = %q, want %q", k, h.Meta[k], v)
		}
	}
}

func TestDecodeHeaderMalformed(t *testing.T) {
	valid, _, err := Encode(sampleTensors(1), sampleMeta())
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxHeaderSize: 1 << 16, MaxFileSize: 1 << 20}
	cases := []struct {
		name string
		b    []byte
		size int64 // 0: len(b)
		want string
	}{
		{"empty", nil, 0, "too short"},
		{"short length", []byte{1, 2, 3}, 0, "too short"},
		{"header over limit", build(strings.Repeat(" ", 10), nil)[:8], 1 << 19, "truncated"},
		{"huge header length", []byte{0, 0, 0, 0, 0, 0, 1, 0}, 1 << 19, "exceeds limit"},
		{"file over limit", valid, 1 << 21, "limit"},
		{"more bytes than the file", valid, int64(len(valid)) - 1, "given of a file"},
		{"not an object", build(`[1]`, nil), 0, "not a JSON object"},
		{"bad dtype", build(`{"a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), 0, "unknown dtype"},
		{"span beyond data", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 2)), 0, "outside"},
		{"span disagrees with shape", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), 0, "needs 8 bytes"},
		{"spans short of data", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 9)), 0, "span 4 bytes"},
		{"end before begin", build(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[3,1]}}`, make([]byte, 4)), 0, "outside"},
		{"duplicate key", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), 0, "duplicate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			size := c.size
			if size == 0 {
				size = int64(len(c.b))
			}
			_, err := DecodeHeader(c.b, size, lim)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
		})
	}
	if _, err := DecodeHeader(valid, int64(len(valid)), lim); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	if _, err := ReadHeader(filepath.Join(t.TempDir(), "absent"), lim); err == nil {
		t.Error("an absent file has a header")
	}
}

// FuzzDecodeHeader: no input panics, every error wraps a sentinel, and a
// header that passes names tensors whose sizes fill the data exactly.
func FuzzDecodeHeader(f *testing.F) {
	for seed := range uint64(2) {
		b, _, err := Encode(sampleTensors(seed), sampleMeta())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(len(b)))
	}
	f.Add(build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, nil), int64(12+52))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := DecodeHeader(b, size, Limits{MaxHeaderSize: 1 << 20, MaxFileSize: 1 << 24})
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		var sum int64
		for _, ht := range h.Tensors {
			sum += ht.Bytes
		}
		if sum != h.FileBytes-8-h.HeaderBytes {
			t.Fatalf("tensors span %d, data %d", sum, h.FileBytes-8-h.HeaderBytes)
		}
	})
}
