package modelfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleTensors(seed uint64) []Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	w := make([]float32, 6)
	for i := range w {
		w[i] = r.Float32()*2 - 1
	}
	return []Tensor{
		F32Tensor("layer1.weight", []int{2, 3}, w),
		F32Tensor("layer1.bias", []int{3}, []float32{0.5, -1, float32(math.Inf(1))}),
		I8Tensor("q.weight", []int{3}, []int8{-128, 0, 127}), // odd size: next tensor unaligned
		I32Tensor("a.ids", []int{2, 1}, []int32{-7, 1 << 30}),
		U8Tensor("mask", []int{4}, []byte{0, 1, 2, 255}),
		F16Tensor("h", []int{2}, []float32{1.5, -0.25}),
		F32Tensor("scalar", []int{}, []float32{42}),
		F32Tensor("empty", []int{0, 5}, nil),
	}
}

func sampleMeta() map[string]string {
	return map[string]string{
		"spec":       `{"input":[784],"layers":[{"type":"dense","units":10}]}`,
		"labels":     "[\"ham\",\"spam\"]",
		"provenance": "unit test <&> \u2028 \x01 \"quoted\" \\ 天气很好",
		"":           "empty key is allowed",
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	in := sampleTensors(1)
	meta := sampleMeta()
	sum, err := Write(path, in, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := meta[HashKey]; ok {
		t.Fatal("Write modified the caller's metadata")
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Hash != sum || f.Meta[HashKey] != sum {
		t.Fatalf("hash: Write returned %s, File.Hash %s, meta %s", sum, f.Hash, f.Meta[HashKey])
	}
	for k, v := range meta {
		if f.Meta[k] != v {
			t.Errorf("meta[%q] = %q, want %q", k, f.Meta[k], v)
		}
	}
	if len(f.Meta) != len(meta)+1 {
		t.Errorf("meta has %d entries, want %d", len(f.Meta), len(meta)+1)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(in))
	}
	for i := 1; i < len(f.Tensors); i++ {
		if f.Tensors[i-1].Name >= f.Tensors[i].Name {
			t.Fatalf("tensors not sorted by name: %q before %q", f.Tensors[i-1].Name, f.Tensors[i].Name)
		}
	}
	for _, want := range in {
		got, ok := f.Tensor(want.Name)
		if !ok {
			t.Fatalf("tensor %q missing", want.Name)
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("tensor %q: got %s %v %x, want %s %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
	w, _ := f.Tensor("layer1.bias")
	vals, err := w.Float32s()
	if err != nil || !reflect.DeepEqual(vals, []float32{0.5, -1, float32(math.Inf(1))}) {
		t.Errorf("Float32s = %v, %v", vals, err)
	}
	h, _ := f.Tensor("h")
	if vals, err := h.Float32s(); err != nil || !reflect.DeepEqual(vals, []float32{1.5, -0.25}) {
		t.Errorf("F16 Float32s = %v, %v", vals, err)
	}
	q, _ := f.Tensor("q.weight")
	if v, err := q.Int8s(); err != nil || !reflect.DeepEqual(v, []int8{-128, 0, 127}) {
		t.Errorf("Int8s = %v, %v", v, err)
	}
	ids, _ := f.Tensor("a.ids")
	if v, err := ids.Int32s(); err != nil || !reflect.DeepEqual(v, []int32{-7, 1 << 30}) {
		t.Errorf("Int32s = %v, %v", v, err)
	}
	if _, err := q.Float32s(); err == nil {
		t.Error("Float32s of an I8 tensor succeeded")
	}

	// Rewriting what was read gives the same bytes (the hash entry is replaced).
	raw, _ := os.ReadFile(path)
	again, sum2, err := Encode(f.Tensors, f.Meta)
	if err != nil || sum2 != sum || !bytes.Equal(again, raw) {
		t.Fatalf("re-encode differs: err %v, hash %s vs %s, equal %v", err, sum2, sum, bytes.Equal(again, raw))
	}
	fsum, err := FileSHA256(path)
	if err != nil || fsum != SHA256Hex(raw) {
		t.Fatalf("FileSHA256 = %s, %v; want %s", fsum, err, SHA256Hex(raw))
	}
	if ch, err := ContentHash(in, meta); err != nil || ch != sum {
		t.Fatalf("ContentHash = %s, %v; want %s", ch, err, sum)
	}
}

func TestDeterministic(t *testing.T) {
	a, ha, err := Encode(sampleTensors(3), sampleMeta())
	if err != nil {
		t.Fatal(err)
	}
	// Same content in another order, and a stale hash entry from the caller.
	ts := sampleTensors(3)
	for i, j := 0, len(ts)-1; i < j; i, j = i+1, j-1 {
		ts[i], ts[j] = ts[j], ts[i]
	}
	m := sampleMeta()
	m[HashKey] = strings.Repeat("0", 64)
	b, hb, err := Encode(ts, m)
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb || !bytes.Equal(a, b) {
		t.Fatal("same tensors and metadata gave different files")
	}
	// Different content gives a different hash.
	_, hc, _ := Encode(sampleTensors(4), sampleMeta())
	if hc == ha {
		t.Fatal("different weights gave the same hash")
	}
	m2 := sampleMeta()
	m2["labels"] = "x"
	if _, hd, _ := Encode(sampleTensors(3), m2); hd == ha {
		t.Fatal("different metadata gave the same hash")
	}
	// Header length is a multiple of 8 and the header starts with '{'.
	n := binary.LittleEndian.Uint64(a)
	if n%8 != 0 || a[8] != '{' {
		t.Fatalf("header length %d, first byte %q", n, a[8])
	}
}

// TestGolden pins the canonical encoding: if this changes, every stored
// content hash changes with it.
func TestGolden(t *testing.T) {
	b, sum, err := Encode([]Tensor{
		F32Tensor("w", []int{2}, []float32{1, 2}),
		I8Tensor("b", []int{1}, []int8{-1}),
	}, map[string]string{"k": "v<\n"})
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := `{"__metadata__":{"k":"v<\n","shoal.sha256":"` + sum + `"},"b":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}`
	for len(wantHeader)%8 != 0 {
		wantHeader += " "
	}
	n := binary.LittleEndian.Uint64(b)
	if got := string(b[8 : 8+n]); got != wantHeader {
		t.Fatalf("header\n got %s\nwant %s", got, wantHeader)
	}
	if got := b[8+n:]; !bytes.Equal(got, []byte{0xff, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}) {
		t.Fatalf("data %x", got)
	}
	// The hash is the SHA-256 of the canonical file without the hash key:
	// for no tensors and no metadata that file is 8,0,...,0 then "{}" and 6 spaces.
	emptyCanon := append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, "{}      "...)
	if h, _ := ContentHash(nil, nil); h != SHA256Hex(emptyCanon) {
		t.Fatalf("empty content hash %s, want %s", h, SHA256Hex(emptyCanon))
	}
	if sum != goldenSum {
		t.Fatalf("content hash of the golden file changed: %s, want %s", sum, goldenSum)
	}
}

const goldenSum = "fbe3572f3cef3a0ef9b774e92be0dea459b4d292e35de5ce0eee042a66fe3329" // checked with Python hashlib

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"shape mismatch", []Tensor{F32Tensor("a", []int{3}, []float32{1, 2})}, nil, "needs 12 bytes"},
		{"negative dim", []Tensor{{Name: "a", DType: "F32", Shape: []int{-1}}}, nil, "negative dim"},
		{"unknown dtype", []Tensor{{Name: "a", DType: "F33", Shape: []int{}}}, nil, "unknown dtype"},
		{"duplicate", []Tensor{F32Tensor("a", nil, []float32{1}), F32Tensor("a", nil, []float32{1})}, nil, "duplicate"},
		{"empty name", []Tensor{F32Tensor("", nil, []float32{1})}, nil, "empty tensor name"},
		{"reserved name", []Tensor{F32Tensor("__metadata__", nil, []float32{1})}, nil, "reserved"},
		{"bad utf8 meta", nil, map[string]string{"k": "\xff"}, "UTF-8"},
		{"bad utf8 name", []Tensor{F32Tensor("\xfe", nil, []float32{1})}, nil, "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "x")
			_, err := Write(path, c.tensors, c.meta)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("file exists after failed write: %v", err)
			}
		})
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	oldSum, err := Write(path, sampleTensors(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)

	// Renaming onto a non-empty directory fails even for root.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(blocked, sampleTensors(1), nil); err == nil {
		t.Fatal("write over a non-empty directory succeeded")
	}
	assertOnly(t, dir, "blocked", "model.safetensors")
	if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
		t.Fatal("a failed write elsewhere changed the model file")
	}

	// A directory that does not exist: clean error.
	if _, err := Write(filepath.Join(dir, "nope", "m"), sampleTensors(1), nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("err = %v", err)
	}

	// Read-only directory (meaningless for root, who may write anyway).
	if os.Geteuid() != 0 {
		ro := t.TempDir()
		rop := filepath.Join(ro, "m")
		if _, err := Write(rop, sampleTensors(1), nil); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(rop)
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(ro, 0o755) })
		if _, err := Write(rop, sampleTensors(2), nil); err == nil {
			t.Fatal("write into a read-only directory succeeded")
		}
		if after, _ := os.ReadFile(rop); !bytes.Equal(after, before) {
			t.Fatal("old file changed")
		}
		assertOnly(t, ro, "m")
	} else {
		t.Log("running as root: read-only directory case skipped (root ignores the mode); failure injection covers it")
	}

	// A successful overwrite replaces the file completely.
	newSum, err := Write(path, sampleTensors(2), nil)
	if err != nil || newSum == oldSum {
		t.Fatalf("overwrite: %v, same hash %v", err, newSum == oldSum)
	}
	if f, err := Read(path); err != nil || f.Hash != newSum {
		t.Fatalf("read after overwrite: %v", err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, want 0644", st.Mode().Perm())
	}
	assertOnly(t, dir, "blocked", "model.safetensors")

}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
}

func TestReadLimits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m")
	if _, err := Write(path, sampleTensors(1), sampleMeta()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadWithLimits(path, Limits{MaxFileSize: 100}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("file limit: %v", err)
	}
	if _, err := ReadWithLimits(path, Limits{MaxHeaderSize: 64}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("header limit: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); err == nil || !os.IsNotExist(errors.Unwrap(err)) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := Read(dir); err == nil {
		t.Fatal("reading a directory succeeded")
	}
}

// build assembles a file from a raw header and data section.
func build(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestDecodeMalformed(t *testing.T) {
	valid, _, err := Encode(sampleTensors(1), sampleMeta())
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-1] ^= 1
	hugeHeader := make([]byte, 8)
	binary.LittleEndian.PutUint64(hugeHeader, 1<<40)
	eight := make([]byte, 8)
	data8 := make([]byte, 8)
	cases := []struct {
		name string
		b    []byte
		want string
		is   error
	}{
		{"empty", nil, "too short", ErrFormat},
		{"seven bytes", []byte{1, 2, 3, 4, 5, 6, 7}, "too short", ErrFormat},
		{"header too large", hugeHeader, "exceeds limit", ErrTooLarge},
		{"truncated header", build(`{"a":1}`, nil)[:10], "truncated header", ErrFormat},
		{"header length zero", eight, "not a JSON object", ErrFormat},
		{"not json", build(`hello!!!`, nil), "not a JSON object", ErrFormat},
		{"broken json", build(`{"a":{"dtype":`, nil), "not valid JSON", ErrFormat},
		{"json array", build(`[1,2,3]`, nil), "not a JSON object", ErrFormat},
		{"leading space", build(` {}`, nil), "must start", ErrFormat},
		{"invalid utf8", build("{\"\xff\":1}", nil), "UTF-8", ErrFormat},
		{"junk after object", build(`{} x`, nil), "after the JSON object", ErrFormat},
		{"second object", build(`{}{}`, nil), "after the JSON object", ErrFormat},
		{"unknown dtype", build(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, data8[:4]), "unknown dtype", ErrFormat},
		{"dtype not string", build(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, data8[:4]), "dtype is not a string", ErrFormat},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, data8[:4]), "negative", ErrFormat},
		{"fractional dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, data8[:4]), "not a non-negative integer", ErrFormat},
		{"exponent dim", build(`{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, data8[:4]), "not a non-negative integer", ErrFormat},
		{"string dim", build(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, data8[:4]), "not a number", ErrFormat},
		{"shape not array", build(`{"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}`, data8[:4]), "not an array", ErrFormat},
		{"too many dims", build(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 64)+`1],"data_offsets":[0,4]}}`, data8[:4]), "more than 64", ErrFormat},
		{"shape overflow", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, data8[:4]), "too many elements", ErrFormat},
		{"byte size overflow", build(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}`, data8[:4]), "too large", ErrFormat},
		{"dim beyond int", build(`{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,4]}}`, data8[:4]), "too large", ErrFormat},
		{"shape vs span", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, data8[:4]), "needs 8 bytes", ErrFormat},
		{"offsets reversed", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, data8[:4]), "end before they begin", ErrFormat},
		{"one offset", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, data8[:4]), "want 2", ErrFormat},
		{"three offsets", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, data8[:4]), "more than 2", ErrFormat},
		{"out of range", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8[:4]), "truncated data", ErrFormat},
		{"truncated buffer", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8[:5]), "truncated data", ErrFormat},
		{"gap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8), "gap", ErrFormat},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, data8), "overlap", ErrFormat},
		{"same range twice", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8[:4]), "overlap", ErrFormat},
		{"trailing garbage", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8), "trailing garbage", ErrFormat},
		{"data without tensors", build(`{}`, data8), "trailing garbage", ErrFormat},
		{"duplicate tensor", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, data8), "duplicate key \"a\"", ErrFormat},
		{"duplicate field", build(`{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, data8[:4]), "duplicate key \"dtype\"", ErrFormat},
		{"duplicate metadata", build(`{"__metadata__":{"k":"a","k":"b"}}`, nil), "duplicate key \"k\"", ErrFormat},
		{"duplicate metadata object", build(`{"__metadata__":{},"__metadata__":{}}`, nil), "duplicate key", ErrFormat},
		{"metadata not string", build(`{"__metadata__":{"k":1}}`, nil), "not a string", ErrFormat},
		{"metadata not object", build(`{"__metadata__":"x"}`, nil), "not a JSON object", ErrFormat},
		{"unknown field", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, data8[:4]), "unknown field", ErrFormat},
		{"missing offsets", build(`{"a":{"dtype":"F32","shape":[1]}}`, data8[:4]), "needs dtype", ErrFormat},
		{"tensor not object", build(`{"a":[1]}`, nil), "not a JSON object", ErrFormat},
		{"empty name", build(`{"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, data8[:4]), "empty tensor name", ErrFormat},
		{"bad hash", build(`{"__metadata__":{"shoal.sha256":"abc"}}`, nil), "64 lower-case hex", ErrFormat},
		{"hash mismatch", flipped, "content hash", ErrHashMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Decode(c.b)
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %q wrapping %v", err, c.want, c.is)
			}
		})
	}
	if _, err := Decode(valid); err != nil {
		t.Fatalf("valid file rejected: %v", err)
	}
}

// TestDecodeForeign reads files laid out as other writers lay them out:
// header order differing from offset order, padding, no hash key.
func TestDecodeForeign(t *testing.T) {
	data := []byte{1, 0, 0, 0, 2, 0, 0, 0, 9}
	b := build(`{"z":{"data_offsets":[0,8],"shape":[2],"dtype":"I32"},"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}   `, data)
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 2 || f.Tensors[0].Name != "a" || f.Tensors[1].Name != "z" || f.Meta["format"] != "pt" {
		t.Fatalf("got %+v", f)
	}
	// The content hash does not depend on layout: re-encoding gives a file
	// whose stored hash equals the hash computed for the foreign one.
	enc, sum, err := Encode(f.Tensors, f.Meta)
	if err != nil || sum != f.Hash {
		t.Fatalf("hash %s vs %s, %v", sum, f.Hash, err)
	}
	if g, err := Decode(enc); err != nil || g.Hash != f.Hash {
		t.Fatalf("re-decode: %v", err)
	}
}

func TestF16(t *testing.T) {
	// Every half converts to float32 and back unchanged (NaNs stay NaN).
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		back := Float32ToF16(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
	cases := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff}, {65520, 0x7c00}, {1e9, 0x7c00},
		{5.960464477539063e-08, 0x0001}, {2.98e-08, 0x0000}, {2.99e-08, 0x0001},
		{1 + 1.0/2048, 0x3c00}, // tie, rounds to even
		{1 + 3.0/2048, 0x3c02}, // tie, rounds to even (up)
		{float32(math.Inf(-1)), 0xfc00},
		{6.097555e-05, 0x03ff}, {6.1035156e-05, 0x0400},
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("Float32ToF16(%v) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for seed := range uint64(3) {
		b, _, err := Encode(sampleTensors(seed), sampleMeta())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	empty, _, _ := Encode(nil, nil)
	f.Add(empty)
	f.Add(build(`{"z":{"data_offsets":[0,8],"shape":[2],"dtype":"I32"},"a":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}`, make([]byte, 9)))
	f.Add(build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := DecodeWithLimits(b, Limits{MaxHeaderSize: 1 << 20, MaxFileSize: 1 << 24})
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		// Whatever decodes re-encodes, decodes again to the same content and hash.
		enc, sum, err := Encode(file.Tensors, file.Meta)
		if err != nil {
			t.Fatalf("decoded file does not encode: %v", err)
		}
		if sum != file.Hash {
			t.Fatalf("hash %s, re-encoded %s", file.Hash, sum)
		}
		g, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if len(g.Tensors) != len(file.Tensors) || g.Hash != file.Hash {
			t.Fatal("round trip changed the file")
		}
		for i := range g.Tensors {
			a, b := g.Tensors[i], file.Tensors[i]
			if a.Name != b.Name || a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
				t.Fatalf("tensor %d changed: %+v vs %+v", i, a, b)
			}
		}
	})
}
