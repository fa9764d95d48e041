package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/engine/atomicfile"
)

const (
	metadataKey = "__metadata__"
	// HashKey is the metadata key that holds the content hash (see doc.go).
	HashKey = "shoal.sha256"
)

// plan is a validated, sorted set of tensors and metadata ready to encode.
type plan struct {
	tensors []Tensor // sorted by name
	keys    []string // metadata keys, sorted, without HashKey
	meta    map[string]string
}

func newPlan(tensors []Tensor, meta map[string]string) (*plan, error) {
	p := &plan{tensors: slices.Clone(tensors), meta: meta}
	slices.SortFunc(p.tensors, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range p.tensors {
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("modelfile: %w", err)
		}
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("modelfile: tensor name %q is not valid UTF-8", t.Name)
		}
		if i > 0 && p.tensors[i-1].Name == t.Name {
			return nil, fmt.Errorf("modelfile: duplicate tensor name %q", t.Name)
		}
	}
	for k, v := range meta {
		if k == HashKey {
			continue
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("modelfile: metadata %q: key and value must be valid UTF-8", k)
		}
		p.keys = append(p.keys, k)
	}
	slices.Sort(p.keys)
	return p, nil
}

// header returns the padded canonical header; hash is the value for HashKey,
// or "" to leave the key out (the form the hash is computed over).
func (p *plan) header(hash string) []byte {
	var h bytes.Buffer
	h.WriteByte('{')
	if len(p.keys) > 0 || hash != "" {
		h.WriteString(`"__metadata__":{`)
		keys := p.keys
		if hash != "" {
			keys = append(slices.Clone(p.keys), HashKey)
			slices.Sort(keys)
		}
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			v := hash
			if k != HashKey {
				v = p.meta[k]
			}
			writeString(&h, k)
			h.WriteByte(':')
			writeString(&h, v)
		}
		h.WriteByte('}')
		if len(p.tensors) > 0 {
			h.WriteByte(',')
		}
	}
	off := 0
	for i, t := range p.tensors {
		if i > 0 {
			h.WriteByte(',')
		}
		writeString(&h, t.Name)
		h.WriteString(`:{"dtype":`)
		writeString(&h, t.DType)
		h.WriteString(`,"shape":[`)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		h.WriteString(`],"data_offsets":[`)
		h.WriteString(strconv.Itoa(off))
		h.WriteByte(',')
		off += len(t.Data)
		h.WriteString(strconv.Itoa(off))
		h.WriteString("]}")
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	return h.Bytes()
}

const hexDigits = "0123456789abcdef"

// writeString writes s as a JSON string with the minimal escaping of doc.go.
func writeString(w *bytes.Buffer, s string) {
	w.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			w.WriteByte('\\')
			w.WriteByte(c)
		case '\b':
			w.WriteString(`\b`)
		case '\f':
			w.WriteString(`\f`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		default:
			if c < 0x20 {
				w.WriteString(`\u00`)
				w.WriteByte(hexDigits[c>>4])
				w.WriteByte(hexDigits[c&0xf])
			} else {
				w.WriteByte(c)
			}
		}
	}
	w.WriteByte('"')
}

// writeTo writes the whole file with the given hash value ("" = no hash key).
func (p *plan) writeTo(w io.Writer, hash string) error {
	h := p.header(hash)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(h)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	for _, t := range p.tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

func (p *plan) hash() string {
	s := sha256.New()
	_ = p.writeTo(s, "") // a hash.Hash never fails to write
	return hex.EncodeToString(s.Sum(nil))
}

// ContentHash returns the content hash (see doc.go) that Write would store
// for these tensors and metadata, without writing anything.
func ContentHash(tensors []Tensor, meta map[string]string) (string, error) {
	p, err := newPlan(tensors, meta)
	if err != nil {
		return "", err
	}
	return p.hash(), nil
}

// Encode returns the file Write would write, and its content hash. The
// metadata map is not modified; a HashKey entry in it is ignored.
func Encode(tensors []Tensor, meta map[string]string) (data []byte, sha256hex string, err error) {
	p, err := newPlan(tensors, meta)
	if err != nil {
		return nil, "", err
	}
	sum := p.hash()
	var buf bytes.Buffer
	_ = p.writeTo(&buf, sum) // bytes.Buffer only fails by panicking on OOM
	return buf.Bytes(), sum, nil
}

// Write atomically writes tensors and meta (plus the content hash under
// HashKey) to path in the canonical encoding and returns the content hash.
// The metadata map is not modified. On any error path is left as it was and
// no temporary file remains (see package atomicfile). The new file has mode 0644.
func Write(path string, tensors []Tensor, meta map[string]string) (sha256hex string, err error) {
	p, err := newPlan(tensors, meta)
	if err != nil {
		return "", err
	}
	sum := p.hash()
	if err := atomicfile.Write(path, func(w io.Writer) error { return p.writeTo(w, sum) }); err != nil {
		return "", fmt.Errorf("modelfile: %w", err)
	}
	return sum, nil
}

// FileSHA256 returns the SHA-256 (lower-case hex) of the whole file at path,
// for byte-for-byte comparison of models between peers.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("modelfile: %w", err)
	}
	defer f.Close()
	s := sha256.New()
	if _, err := io.Copy(s, f); err != nil {
		return "", fmt.Errorf("modelfile: hash %s: %w", path, err)
	}
	return hex.EncodeToString(s.Sum(nil)), nil
}

// SHA256Hex returns the SHA-256 (lower-case hex) of b, the in-memory twin of
// FileSHA256.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
