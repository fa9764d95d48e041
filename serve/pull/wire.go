package pull

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/shoalmesh/shoal/engine/modelstore"
)

// ProtocolName is the stream protocol, under the mesh's prefix (see
// mesh.Node.Protocol), that serves model files.
const ProtocolName = "model/1.0.0"

// Limits of the wire format.
const (
	// DefaultMaxBytes caps a model file, on both sides, unless WithMaxBytes
	// says otherwise.
	DefaultMaxBytes = 1 << 30
	// MaxChunk bounds one chunk of file bytes.
	MaxChunk = 1 << 20
	// maxMessage bounds the message of a not-found or error answer.
	maxMessage = 1024
	// maxRefLen bounds a reference (a label, a number or "latest").
	maxRefLen = modelstore.MaxNameLen
)

const (
	requestMagic   = "SHM1"
	statusOK       = 0
	statusNotFound = 1
	statusError    = 2
)

var (
	// ErrNotFound is wrapped when the peer holds no such model, version or label.
	ErrNotFound = errors.New("pull: peer does not hold the model")
	// ErrRefused is wrapped when the peer answers with an error (busy, too large).
	ErrRefused = errors.New("pull: peer refused")
	// ErrMalformed is wrapped by every decoding error of the wire format.
	ErrMalformed = errors.New("pull: malformed frame")
	// ErrTooLarge is wrapped when a file is over the size limit.
	ErrTooLarge = errors.New("pull: model file too large")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// header is what an ok answer says before the bytes.
type header struct {
	Version int
	Sum     [32]byte
	Size    int64
}

// validRef checks a reference as the request carries it.
func validRef(ref string) error {
	if ref == "" || ref == "latest" {
		return nil
	}
	if len(ref) > maxRefLen {
		return fmt.Errorf("reference of %d characters, at most %d", len(ref), maxRefLen)
	}
	if allDigits(ref) {
		if ref[0] == '0' {
			return fmt.Errorf("version %q: want a number from 1 without leading zeros", ref)
		}
		return nil
	}
	return modelstore.ValidLabel(ref)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func appendRequest(b []byte, name, ref string) []byte {
	b = append(b, requestMagic...)
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, byte(len(ref)))
	return append(b, ref...)
}

// readRequest decodes a request; it reads at most 4+1+255+1+255 bytes and
// checks the name and the reference.
func readRequest(r io.Reader) (name, ref string, err error) {
	var magic [len(requestMagic)]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return "", "", malformed("request: %v", err)
	}
	if string(magic[:]) != requestMagic {
		return "", "", malformed("request: bad magic %q", magic[:])
	}
	readStr := func(what string, limit int) (string, error) {
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return "", malformed("request %s length: %v", what, err)
		}
		if int(n[0]) > limit {
			return "", malformed("request %s of %d bytes, at most %d", what, n[0], limit)
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(r, b); err != nil {
			return "", malformed("request %s: %v", what, err)
		}
		return string(b), nil
	}
	if name, err = readStr("name", modelstore.MaxNameLen); err != nil {
		return "", "", err
	}
	if err := modelstore.ValidName(name); err != nil {
		return "", "", malformed("request: %v", err)
	}
	if ref, err = readStr("reference", maxRefLen); err != nil {
		return "", "", err
	}
	if err := validRef(ref); err != nil {
		return "", "", malformed("request: %v", err)
	}
	return name, ref, nil
}

func appendHeader(b []byte, h header) []byte {
	b = append(b, statusOK)
	b = binary.BigEndian.AppendUint32(b, uint32(h.Version))
	b = append(b, h.Sum[:]...)
	return binary.BigEndian.AppendUint64(b, uint64(h.Size))
}

func appendRefusal(b []byte, status byte, msg string) []byte {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	b = append(b, status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

// readHeader decodes the start of an answer: an ok header with a size of
// at most maxBytes, or a refusal, returned as an error wrapping ErrNotFound
// or ErrRefused with the peer's message.
func readHeader(r io.Reader, maxBytes int64) (header, error) {
	var h header
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		return h, malformed("answer status: %v", err)
	}
	switch status[0] {
	case statusOK:
	case statusNotFound, statusError:
		var n [2]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return h, malformed("answer message length: %v", err)
		}
		size := binary.BigEndian.Uint16(n[:])
		if size > maxMessage {
			return h, malformed("answer message of %d bytes, at most %d", size, maxMessage)
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			return h, malformed("answer message: %v", err)
		}
		kind := ErrRefused
		if status[0] == statusNotFound {
			kind = ErrNotFound
		}
		return h, fmt.Errorf("%w: %s", kind, printable(msg))
	default:
		return h, malformed("unknown answer status %d", status[0])
	}
	var buf [4 + 32 + 8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return h, malformed("answer header: %v", err)
	}
	v := binary.BigEndian.Uint32(buf[:4])
	if v < 1 || v > 1<<31-1 {
		return h, malformed("version %d", v)
	}
	h.Version = int(v)
	copy(h.Sum[:], buf[4:36])
	size := binary.BigEndian.Uint64(buf[36:])
	if size > uint64(maxBytes) {
		return h, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, maxBytes)
	}
	h.Size = int64(size)
	return h, nil
}

// printable keeps a peer's message to printable ASCII, so it cannot play
// tricks on a terminal.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

// writeChunks copies exactly size bytes of r to w as chunks of at most
// MaxChunk, then the terminating empty chunk. buf is scratch space; its
// length minus 4 bounds a chunk.
func writeChunks(w io.Writer, r io.Reader, size int64, buf []byte) error {
	chunk := min(len(buf)-4, MaxChunk)
	if chunk < 1 {
		return errors.New("pull: chunk buffer too small")
	}
	for left := size; left > 0; {
		n := int(min(int64(chunk), left))
		if _, err := io.ReadFull(r, buf[4:4+n]); err != nil {
			return fmt.Errorf("pull: read model file: %w", err)
		}
		binary.BigEndian.PutUint32(buf[:4], uint32(n))
		if _, err := w.Write(buf[:4+n]); err != nil {
			return err
		}
		left -= int64(n)
	}
	var end [4]byte
	_, err := w.Write(end[:])
	return err
}

// readChunks copies the chunks of an answer to w: exactly size bytes in
// chunks of 1 to MaxChunk bytes, then the empty chunk. It never holds more
// than one chunk in memory.
func readChunks(w io.Writer, r io.Reader, size int64) (int64, error) {
	var got int64
	var n [4]byte
	buf := make([]byte, min(size, MaxChunk))
	for {
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return got, malformed("chunk length after %d of %d bytes: %v", got, size, err)
		}
		c := int64(binary.BigEndian.Uint32(n[:]))
		if c == 0 {
			if got != size {
				return got, malformed("data ended after %d of %d bytes", got, size)
			}
			return got, nil
		}
		if c > MaxChunk {
			return got, malformed("chunk of %d bytes, at most %d", c, MaxChunk)
		}
		if c > size-got {
			return got, malformed("chunk of %d bytes overruns the announced size %d (at %d)", c, size, got)
		}
		if _, err := io.ReadFull(r, buf[:c]); err != nil {
			return got, malformed("chunk after %d of %d bytes: %v", got, size, err)
		}
		if _, err := w.Write(buf[:c]); err != nil {
			return got, err
		}
		got += c
	}
}
