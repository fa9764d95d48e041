package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
)

// idxBytes builds an IDX file: uint8 elements with the given dims.
func idxBytes(typ byte, dims []int, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestDecodeIDX(t *testing.T) {
	raw := idxBytes(IDXUint8, []int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	for name, in := range map[string][]byte{"raw": raw, "gzip": gz(raw)} {
		m, err := DecodeIDX(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Type != IDXUint8 || !reflect.DeepEqual(m.Dims, []int{2, 3}) || !bytes.Equal(m.Data, []byte{1, 2, 3, 4, 5, 6}) {
			t.Errorf("%s: got %+v", name, m)
		}
	}
	m, err := DecodeIDX(idxBytes(IDXInt32, []int{2}, []byte{0, 0, 0, 1, 0, 0, 0, 2}))
	if err != nil || len(m.Data) != 8 {
		t.Errorf("int32 file: %v %+v", err, m)
	}
}

func TestDecodeIDXMalformed(t *testing.T) {
	good := idxBytes(IDXUint8, []int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	gzGood := gz(good)
	badCRC := append([]byte(nil), gzGood...)
	badCRC[len(badCRC)-6] ^= 0xff
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated: no 4-byte magic"},
		{"short magic", []byte{0, 0, 8}, "truncated: no 4-byte magic"},
		{"bad magic", []byte{1, 2, 8, 1, 0, 0, 0, 0}, "bad magic"},
		{"text file", []byte("hello world"), "bad magic"},
		{"unknown type", []byte{0, 0, 0x07, 1, 0, 0, 0, 0}, "unknown element type 0x07"},
		{"zero dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"too many dims", []byte{0, 0, 8, 9}, "9 dimensions"},
		{"truncated header", []byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0}, "truncated in the header"},
		{"truncated data", good[:len(good)-2], "truncated: dims [2 3] need 6 data bytes, file has 4"},
		{"trailing data", append(append([]byte(nil), good...), 9), "1 bytes after the data"},
		{"over limit", idxBytes(IDXUint8, []int{1 << 16, 1 << 16}, nil), "limit"},
		{"float64 over limit", idxBytes(IDXFloat64, []int{1 << 28}, nil), "limit"},
		{"gzip truncated data", gz(good[:len(good)-2]), "truncated: dims [2 3] need 6 data bytes, found 4"},
		{"gzip trailing data", gz(append(append([]byte(nil), good...), 7)), "data continues after"},
		{"gzip cut short", gzGood[:len(gzGood)-4], "gzip"},
		{"gzip bad crc", badCRC, "checksum"},
		{"gzip bad header", []byte{0x1f, 0x8b, 1, 2, 3}, "bad gzip header"},
		{"gzip claims too much", gz(idxBytes(IDXUint8, []int{10000, 10000}, nil)), "more than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeIDX(c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func FuzzIDX(f *testing.F) {
	good := idxBytes(IDXUint8, []int{2, 3}, []byte{1, 2, 3, 4, 5, 6})
	f.Add(good)
	f.Add(gz(good))
	f.Add(idxBytes(IDXFloat32, []int{1, 1, 1}, []byte{0x3f, 0x80, 0, 0}))
	f.Add([]byte{0, 0, 8, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeIDX(b)
		if err != nil {
			return
		}
		n := idxElemSize[m.Type]
		for _, d := range m.Dims {
			n *= d
		}
		if n != len(m.Data) {
			t.Fatalf("dims %v type %x but %d data bytes", m.Dims, m.Type, len(m.Data))
		}
	})
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	img := writeFile(t, dir, "img.gz", gz(idxBytes(IDXUint8, []int{3, 2, 2}, []byte{0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8})))
	lab := writeFile(t, dir, "lab", idxBytes(IDXUint8, []int{3}, []byte{2, 0, 1}))
	d, err := LoadIDX(img, lab)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || !reflect.DeepEqual(d.SampleShape, []int{1, 2, 2}) || !reflect.DeepEqual(d.Labels, []string{"0", "1", "2"}) {
		t.Errorf("N %d shape %v labels %v", d.N, d.SampleShape, d.Labels)
	}
	if d.X[0] != 0 || d.X[1] != 1 || d.X[2] != 0.2 || d.X[3] != 0.4 || !reflect.DeepEqual(d.Y, []float32{2, 0, 1}) {
		t.Errorf("X %v Y %v", d.X[:4], d.Y)
	}

	short := writeFile(t, dir, "lab2", idxBytes(IDXUint8, []int{2}, []byte{0, 1}))
	if _, err := LoadIDX(img, short); err == nil || !strings.Contains(err.Error(), "3 images but") {
		t.Errorf("count mismatch: %v", err)
	}
	if _, err := LoadIDX(img, img); err == nil || !strings.Contains(err.Error(), "want uint8 labels") {
		t.Errorf("images as labels: %v", err)
	}
	if _, err := LoadIDX(img, filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
	trunc := writeFile(t, dir, "trunc", idxBytes(IDXUint8, []int{3, 2, 2}, []byte{1, 2, 3}))
	if _, err := LoadIDX(trunc, lab); err == nil || !strings.Contains(err.Error(), "trunc: idx: truncated") {
		t.Errorf("truncated file: %v", err)
	}
}

func TestLoadMNISTSynthetic(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 2*28*28)
	pix[0], pix[28*28] = 255, 128
	writeFile(t, dir, MNISTFiles[0], gz(idxBytes(IDXUint8, []int{2, 28, 28}, pix)))
	writeFile(t, dir, MNISTFiles[1], gz(idxBytes(IDXUint8, []int{2}, []byte{3, 9})))
	// Raw (un-gzipped) test files are found too.
	writeFile(t, dir, strings.TrimSuffix(MNISTFiles[2], ".gz"), idxBytes(IDXUint8, []int{1, 28, 28}, pix[:784]))
	writeFile(t, dir, strings.TrimSuffix(MNISTFiles[3], ".gz"), idxBytes(IDXUint8, []int{1}, []byte{0}))
	tr, te, err := LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.N != 2 || te.N != 1 || len(tr.Labels) != 10 || tr.Y[1] != 9 || tr.X[784] != float32(128)/255 || tr.SampleSize() != 784 {
		t.Errorf("train %d test %d labels %v", tr.N, te.N, tr.Labels)
	}
	writeFile(t, dir, MNISTFiles[1], gz(idxBytes(IDXUint8, []int{2}, []byte{3, 10})))
	if _, _, err := LoadMNIST(dir); err == nil || !strings.Contains(err.Error(), "labels 0-9") {
		t.Errorf("label 10: %v", err)
	}
	if _, _, err := LoadMNIST(t.TempDir()); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestLoadMNISTReal(t *testing.T) {
	dir := datatest.MNIST(t)
	start := time.Now()
	tr, te, err := LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadMNIST took %v (wall; noisy on a shared machine)", time.Since(start))
	if tr.N != 60000 || te.N != 10000 {
		t.Fatalf("train %d test %d, want 60000 10000", tr.N, te.N)
	}
	for _, c := range []struct {
		d      *Dataset
		lo, hi int
		first  float32
	}{{tr, 5400, 6800, 5}, {te, 890, 1140, 7}} { // known class counts: train 5421..6742, test 892..1135
		if err := c.d.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.d.Y[0] != c.first {
			t.Errorf("first label %v, want %v", c.d.Y[0], c.first)
		}
		var hist [10]int
		for _, y := range c.d.Y {
			hist[int(y)]++
		}
		for k, n := range hist {
			if n < c.lo || n > c.hi {
				t.Errorf("class %d has %d samples, want %d..%d (histogram %v)", k, n, c.lo, c.hi, hist)
			}
		}
		lo, hi, sum := float32(1), float32(0), 0.0
		for _, x := range c.d.X {
			lo, hi = min(lo, x), max(hi, x)
			sum += float64(x)
		}
		if mean := sum / float64(len(c.d.X)); lo != 0 || hi != 1 || mean < 0.12 || mean > 0.14 { // MNIST mean pixel 0.1307
			t.Errorf("pixels in [%v,%v], mean %v; want [0,1], mean ~0.13", lo, hi, mean)
		}
	}
}

func BenchmarkLoadMNIST(b *testing.B) {
	dir := os.Getenv("SHOAL_MNIST")
	if dir == "" {
		b.Skip("SHOAL_MNIST unset")
	}
	for b.Loop() {
		if _, _, err := LoadMNIST(dir); err != nil {
			b.Fatal(err)
		}
	}
}
