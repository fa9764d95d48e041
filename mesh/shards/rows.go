package shards

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Rows is a block of training rows: N samples of Width float32 features and
// one float32 label each. It is the payload of a data shard.
type Rows struct {
	Width int
	X     []float32 // N*Width
	Y     []float32 // N
}

// N is the number of rows.
func (r Rows) N() int { return len(r.Y) }

// rowsMagic starts every encoded shard; the digit is the format version.
const rowsMagic = "SHR1"

// EncodeRows writes rows as: magic, width uint32, n uint32, X then Y as
// little-endian float32. The encoding is deterministic, so the same rows
// always make the same shard id.
func EncodeRows(r Rows) ([]byte, error) {
	n := r.N()
	if r.Width <= 0 || len(r.X) != n*r.Width {
		return nil, fmt.Errorf("rows: %d features for %d rows of width %d", len(r.X), n, r.Width)
	}
	size := len(rowsMagic) + 8 + 4*(len(r.X)+n)
	if size > MaxShardBytes {
		return nil, fmt.Errorf("rows: %d bytes exceed the shard limit of %d", size, MaxShardBytes)
	}
	out := make([]byte, size)
	copy(out, rowsMagic)
	off := len(rowsMagic)
	binary.LittleEndian.PutUint32(out[off:], uint32(r.Width))
	binary.LittleEndian.PutUint32(out[off+4:], uint32(n))
	off += 8
	for _, v := range r.X {
		binary.LittleEndian.PutUint32(out[off:], math.Float32bits(v))
		off += 4
	}
	for _, v := range r.Y {
		binary.LittleEndian.PutUint32(out[off:], math.Float32bits(v))
		off += 4
	}
	return out, nil
}

// DecodeRows reads what EncodeRows wrote, rejecting anything malformed.
func DecodeRows(b []byte) (Rows, error) {
	if len(b) > MaxShardBytes {
		return Rows{}, fmt.Errorf("rows: %d bytes exceed the shard limit of %d", len(b), MaxShardBytes)
	}
	if len(b) < len(rowsMagic)+8 {
		return Rows{}, errors.New("rows: too short for a header")
	}
	if string(b[:len(rowsMagic)]) != rowsMagic {
		return Rows{}, errors.New("rows: not a shoal data shard (bad magic)")
	}
	off := len(rowsMagic)
	width := uint64(binary.LittleEndian.Uint32(b[off:]))
	n := uint64(binary.LittleEndian.Uint32(b[off+4:]))
	off += 8
	if width == 0 {
		return Rows{}, errors.New("rows: width is zero")
	}
	// Bound both factors by the body before multiplying: with two 32-bit
	// header fields the product could wrap around uint64 and match a short
	// body, and the allocation below would then panic.
	have := uint64(len(b) - off)
	if width > have/4 || n > have/4 {
		return Rows{}, fmt.Errorf("rows: header says %d rows of width %d, body has only %d bytes", n, width, have)
	}
	want := (width*n + n) * 4
	if want != have {
		return Rows{}, fmt.Errorf("rows: header says %d rows of width %d (%d bytes), body has %d bytes", n, width, want, have)
	}
	r := Rows{Width: int(width), X: make([]float32, width*n), Y: make([]float32, n)}
	for i := range r.X {
		r.X[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		off += 4
	}
	for i := range r.Y {
		r.Y[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		off += 4
	}
	return r, nil
}
