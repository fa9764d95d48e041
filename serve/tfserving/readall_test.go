package tfserving

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"testing"
	"testing/iotest"
)

// TestReadAll: bodies of every size around the chunk edges, declared or
// not, in reads of any size, come back whole; a read error and the
// MaxBytesReader limit come back as errors.
func TestReadAll(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, bodyChunk - 1, bodyChunk, bodyChunk + 1, 3*bodyChunk + 17} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i*7 + i>>8)
		}
		for _, tc := range []struct {
			name string
			r    func() io.Reader
			size int64
		}{
			{"unsized", func() io.Reader { return bytes.NewReader(body) }, -1},
			{"unsized, one byte a read", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(body)) }, -1},
			{"unsized, data with EOF", func() io.Reader { return iotest.DataErrReader(bytes.NewReader(body)) }, 0},
			{"sized", func() io.Reader { return bytes.NewReader(body) }, int64(n)},
			{"sized, half a read", func() io.Reader { return iotest.HalfReader(bytes.NewReader(body)) }, int64(n)},
		} {
			got, err := readAll(tc.r(), tc.size)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("%d bytes, %s: %d bytes back, %v", n, tc.name, len(got), err)
			}
		}
	}
	boom := errors.New("boom")
	for _, size := range []int64{-1, 10} {
		r := io.MultiReader(bytes.NewReader(make([]byte, bodyChunk+5)), iotest.ErrReader(boom))
		if _, err := readAll(r, size); !errors.Is(err, boom) {
			t.Errorf("size %d: a read error came back as %v", size, err)
		}
	}
	rec := httptest.NewRecorder()
	over := http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(make([]byte, 2*bodyChunk+1))), 2*bodyChunk)
	var tooLarge *http.MaxBytesError
	if _, err := readAll(over, -1); !errors.As(err, &tooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// TestReadUnsizedReusesChunks: reading a body of unknown size over the
// limit, again and again, allocates a small part of it once the pool
// holds its chunks (io.ReadAll's doubling buffer allocated about twice
// the body each time).
func TestReadUnsizedReusesChunks(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops a quarter of its items under -race")
	}
	// A collection empties the pool; none may run while it is measured
	// (CI saw one land mid-run beside the other packages' tests).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	const limit = 1 << 20
	src := make([]byte, limit+1)
	read := func() {
		rec := httptest.NewRecorder()
		if _, err := readAll(http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(src)), limit), -1); err == nil {
			t.Fatal("a body over the limit was read")
		}
	}
	read()
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		read()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > limit/4 {
		t.Errorf("%d bytes allocated a body over the %d-byte limit", per, limit)
	}
}

func FuzzReadAll(f *testing.F) {
	f.Add([]byte(`{"instances": [1]}`), int64(-1), uint8(0))
	f.Add(make([]byte, bodyChunk+3), int64(bodyChunk+3), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, size int64, mode uint8) {
		var r io.Reader = bytes.NewReader(body)
		switch mode % 3 {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		}
		if size > int64(len(body))+1 || size < -1 {
			size = -1 // a declared size is at most the limit, checked before
		}
		got, err := readAll(r, size)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes (size %d): %d back, %v", len(body), size, len(got), err)
		}
	})
}
