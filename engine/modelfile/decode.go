package modelfile

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors that Read and Decode wrap; test with errors.Is.
var (
	// ErrFormat: the bytes are not a well-formed safetensors file.
	ErrFormat = errors.New("modelfile: malformed file")
	// ErrTooLarge: the header or the file exceeds a size limit.
	ErrTooLarge = errors.New("modelfile: too large")
	// ErrHashMismatch: the stored content hash does not match the content.
	ErrHashMismatch = errors.New("modelfile: content hash mismatch")
)

const (
	// MaxHeaderSize is the default limit on the JSON header: 100 MiB, just
	// above the reference implementation's 100,000,000 bytes.
	MaxHeaderSize = 100 << 20
	// DefaultMaxFileSize is the default limit on a whole file for Read and
	// Decode. Read holds the file in memory, so it is also a memory bound.
	DefaultMaxFileSize = 4 << 30
	maxDims            = 64
)

// Limits bounds what Read and Decode accept; zero fields take the defaults.
type Limits struct {
	MaxHeaderSize int64 // bytes of JSON header; default MaxHeaderSize
	MaxFileSize   int64 // bytes of whole file; default DefaultMaxFileSize
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderSize <= 0 {
		l.MaxHeaderSize = MaxHeaderSize
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxFileSize
	}
	return l
}

// File is a decoded model file. Tensors are sorted by name. Meta holds every
// metadata entry, including HashKey when the file had one. Hash is the content
// hash (verified against HashKey when present, computed otherwise).
type File struct {
	Tensors []Tensor
	Meta    map[string]string
	Hash    string
}

// Tensor returns the tensor called name.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := slices.BinarySearchFunc(f.Tensors, name, func(t Tensor, n string) int { return strings.Compare(t.Name, n) })
	if !ok {
		return Tensor{}, false
	}
	return f.Tensors[i], true
}

// Read reads and verifies the model file at path with the default Limits.
func Read(path string) (*File, error) {
	return ReadWithLimits(path, Limits{})
}

// ReadWithLimits is Read with explicit size limits.
func ReadWithLimits(path string, lim Limits) (*File, error) {
	lim = lim.withDefaults()
	fh, st, err := openRegular(path, lim)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// Read one byte past the stat size to notice a file that grew meanwhile.
	b, err := io.ReadAll(io.LimitReader(fh, st.Size()+1))
	if err != nil {
		return nil, fmt.Errorf("modelfile: read %s: %w", path, err)
	}
	if int64(len(b)) != st.Size() {
		return nil, fmt.Errorf("%w: %s changed size while being read", ErrFormat, path)
	}
	f, err := DecodeWithLimits(b, lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Decode parses and verifies a model file held in b, with the default Limits.
// The returned tensors' Data alias b.
func Decode(b []byte) (*File, error) {
	return DecodeWithLimits(b, Limits{})
}

type info struct {
	name       string
	dtype      string
	shape      []int
	begin, end uint64
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// DecodeWithLimits is Decode with explicit size limits.
func DecodeWithLimits(b []byte, lim Limits) (*File, error) {
	lim = lim.withDefaults()
	if int64(len(b)) > lim.MaxFileSize {
		return nil, fmt.Errorf("%w: file is %d bytes, limit %d", ErrTooLarge, len(b), lim.MaxFileSize)
	}
	if len(b) < 8 {
		return nil, formatErr("file is %d bytes, too short for the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(lim.MaxHeaderSize) {
		return nil, fmt.Errorf("%w: header length %d exceeds limit %d", ErrTooLarge, n, lim.MaxHeaderSize)
	}
	if n > uint64(len(b)-8) {
		return nil, formatErr("truncated header: header length %d but only %d bytes follow", n, len(b)-8)
	}
	header := b[8 : 8+n]
	data := b[8+n:]
	infos, meta, err := parseHeader(header)
	if err != nil {
		return nil, err
	}

	// The offsets must tile the data section exactly, as in the reference
	// implementation: sorted by offset, each starts where the last ended,
	// the last ends at the end of the file.
	sorted := slices.Clone(infos)
	slices.SortFunc(sorted, func(a, b info) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	next := uint64(0)
	for _, in := range sorted {
		if in.end < in.begin {
			return nil, formatErr("tensor %q: data_offsets [%d,%d] end before they begin", in.name, in.begin, in.end)
		}
		if in.end > uint64(len(data)) {
			return nil, formatErr("truncated data: tensor %q ends at offset %d but the data section has %d bytes", in.name, in.end, len(data))
		}
		size, err := byteSize(in.dtype, in.shape)
		if err != nil {
			return nil, formatErr("tensor %q: %v", in.name, err)
		}
		if uint64(size) != in.end-in.begin {
			return nil, formatErr("tensor %q: %s shape %v needs %d bytes, data_offsets [%d,%d] span %d", in.name, in.dtype, in.shape, size, in.begin, in.end, in.end-in.begin)
		}
		switch {
		case in.begin < next:
			return nil, formatErr("tensor %q: data_offsets [%d,%d] overlap the previous tensor, which ends at %d", in.name, in.begin, in.end, next)
		case in.begin > next:
			return nil, formatErr("tensor %q: data_offsets [%d,%d] leave a gap after offset %d", in.name, in.begin, in.end, next)
		}
		next = in.end
	}
	if next != uint64(len(data)) {
		return nil, formatErr("trailing garbage: %d bytes after the last tensor", uint64(len(data))-next)
	}

	f := &File{Meta: meta, Tensors: make([]Tensor, len(infos))}
	slices.SortFunc(infos, func(a, b info) int { return strings.Compare(a.name, b.name) })
	for i, in := range infos {
		f.Tensors[i] = Tensor{Name: in.name, DType: in.dtype, Shape: in.shape, Data: data[in.begin:in.end:in.end]}
	}

	p, err := newPlan(f.Tensors, meta)
	if err != nil {
		// Unreachable for input that passed the checks above; kept so a
		// disagreement between reader and writer is an error, not a panic.
		return nil, formatErr("%v", err)
	}
	f.Hash = p.hash()
	if stored, ok := meta[HashKey]; ok {
		if !isHexSHA256(stored) {
			return nil, formatErr("metadata %s is %q, not 64 lower-case hex digits", HashKey, stored)
		}
		if stored != f.Hash {
			return nil, fmt.Errorf("%w: stored %s, content hashes to %s (file corrupt or edited)", ErrHashMismatch, stored, f.Hash)
		}
	}
	return f, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// parseHeader parses the JSON header strictly: one object, no duplicate keys
// at any level, only white space after it. It walks the tokens itself rather
// than using jsonx.DecodeStrict: decoding into maps would silently keep the
// last of two equal keys (two tensors of one name), and the walk bounds the
// number of dims while reading instead of after allocating them all.
func parseHeader(header []byte) ([]info, map[string]string, error) {
	if !utf8.Valid(header) {
		return nil, nil, formatErr("header is not valid UTF-8")
	}
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, formatErr("header is not a JSON object (must start with '{')")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	var infos []info
	var meta map[string]string
	err := readObject(dec, "header", func(key string) error {
		if key == metadataKey {
			m, err := readMeta(dec)
			meta = m
			return err
		}
		in, err := readInfo(dec, key)
		if err != nil {
			return err
		}
		infos = append(infos, in)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if rest := bytes.TrimLeft(header[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, nil, formatErr("header has %d bytes of non-space data after the JSON object", len(rest))
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return infos, meta, nil
}

// readObject reads one JSON object, calling fn for each key with the decoder
// positioned at its value; fn must consume the value.
func readObject(dec *json.Decoder, what string, fn func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return formatErr("%s is not valid JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return formatErr("%s is not a JSON object", what)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return formatErr("%s is not valid JSON: %v", what, err)
		}
		key, ok := tok.(string)
		if !ok {
			return formatErr("%s: object key is not a string", what)
		}
		if seen[key] {
			return formatErr("%s: duplicate key %q", what, key)
		}
		seen[key] = true
		if err := fn(key); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return formatErr("%s is not valid JSON: %v", what, err)
	}
	return nil
}

func readMeta(dec *json.Decoder) (map[string]string, error) {
	meta := map[string]string{}
	err := readObject(dec, metadataKey, func(key string) error {
		tok, err := dec.Token()
		if err != nil {
			return formatErr("%s is not valid JSON: %v", metadataKey, err)
		}
		v, ok := tok.(string)
		if !ok {
			return formatErr("%s[%q] is not a string", metadataKey, key)
		}
		meta[key] = v
		return nil
	})
	return meta, err
}

func readInfo(dec *json.Decoder, name string) (info, error) {
	in := info{name: name}
	what := fmt.Sprintf("tensor %q", name)
	var haveDtype, haveShape, haveOffsets bool
	err := readObject(dec, what, func(field string) error {
		switch field {
		case "dtype":
			tok, err := dec.Token()
			if err != nil {
				return formatErr("%s is not valid JSON: %v", what, err)
			}
			s, ok := tok.(string)
			if !ok {
				return formatErr("%s: dtype is not a string", what)
			}
			if _, ok := dtypeSizes[s]; !ok {
				return formatErr("%s: unknown dtype %q", what, s)
			}
			in.dtype, haveDtype = s, true
		case "shape":
			dims, err := readUints(dec, what+" shape", maxDims)
			if err != nil {
				return err
			}
			in.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return formatErr("%s: dim %d too large", what, d)
				}
				in.shape[i] = int(d)
			}
			haveShape = true
		case "data_offsets":
			offs, err := readUints(dec, what+" data_offsets", 2)
			if err != nil {
				return err
			}
			if len(offs) != 2 {
				return formatErr("%s: data_offsets has %d numbers, want 2", what, len(offs))
			}
			in.begin, in.end, haveOffsets = offs[0], offs[1], true
		default:
			return formatErr("%s: unknown field %q", what, field)
		}
		return nil
	})
	if err != nil {
		return in, err
	}
	if !haveDtype || !haveShape || !haveOffsets {
		return in, formatErr("%s: needs dtype, shape and data_offsets", what)
	}
	if err := checkName(name); err != nil {
		return in, formatErr("%v", err)
	}
	return in, nil
}

// readUints reads a JSON array of at most max non-negative integers.
func readUints(dec *json.Decoder, what string, max int) ([]uint64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, formatErr("%s is not valid JSON: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, formatErr("%s is not an array", what)
	}
	var out []uint64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("%s is not valid JSON: %v", what, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, formatErr("%s: element %d is not a number", what, len(out))
		}
		if len(num) > 0 && num[0] == '-' {
			return nil, formatErr("%s: negative value %s", what, num)
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, formatErr("%s: %s is not a non-negative integer", what, num)
		}
		if len(out) == max {
			return nil, formatErr("%s has more than %d elements", what, max)
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("%s is not valid JSON: %v", what, err)
	}
	return out, nil
}

// openRegular opens the model file at path and checks that it is a regular
// file within lim's size: Read and ReadHeader refuse the same files.
func openRegular(path string, lim Limits) (*os.File, os.FileInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("modelfile: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("modelfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, nil, fmt.Errorf("%w: %s is not a regular file", ErrFormat, path)
	}
	if st.Size() > lim.MaxFileSize {
		fh.Close()
		return nil, nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, path, st.Size(), lim.MaxFileSize)
	}
	return fh, st, nil
}
