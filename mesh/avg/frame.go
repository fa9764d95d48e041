package avg

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/engine/clip"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/quant"
)

// Wire format of the params protocol (ProtocolName), version 1. Every message starts with a fixed
// 77-byte header (big-endian), followed by the job id and a message text:
//
//	0  magic "SHPV"      4  version (1)   5 kind   6 encoding   7 flags   8 status
//	9  round u64        17 weight f64   25 length u32 (elements)   29 chunk u32 (elements)
//	33 SHA-256 of the payload bytes     65 clip radius f64 (0 = no clipping)
//	73 job id length u8   74 message length u8   75 reserved u16   77 job id, then message text
//
// Kinds push, reply and final announce a payload of `length` elements cut in
// chunks of `chunk` elements. The payload of a push travels only after the
// responder accepted it, so a refusal (busy, banned, wrong length) costs a
// header, not a model. Chunk layout per encoding:
//
//	f32:  4 bytes per element, IEEE little-endian
//	f16:  2 bytes per element, IEEE binary16 little-endian (finite values saturate at ±65504)
//	int8: float32 little-endian scale, then one int8 per element, value = q·scale, q in [-127, 127]
const (
	frameMagic   = "SHPV"
	frameVersion = 1
	headerLen    = 77

	// MaxJobIDLen bounds the job id carried in every header.
	MaxJobIDLen = 128
	// MaxVectorLen bounds the elements of any decoded vector (1 GiB as f32),
	// before the receiver's own, tighter check that the length equals its own.
	MaxVectorLen = 1 << 28
	// DefaultChunk is the elements per chunk this package sends; int8 pays 4
	// bytes of scale per chunk (0.1% here), and a finer scale tracks layers of
	// different magnitude better.
	DefaultChunk = 4096
	maxChunk     = 1 << 20
	maxWeight    = 1e18
	// maxMsgLen bounds the message text: its length travels in one byte.
	maxMsgLen = 255
)

type kind uint8

const (
	kindPush   kind = 1 // initiator offers its vector (payload follows an accept)
	kindAccept kind = 2 // responder will take it
	kindRefuse kind = 3 // responder or initiator gives up; status says why
	kindReply  kind = 4 // responder's own vector, payload follows at once
	kindCommit kind = 5 // initiator has the reply and will apply the average
	kindDone   kind = 6 // responder has applied the average
	kindFetch  kind = 7 // ask for the final vector of a job
	kindFinal  kind = 8 // the final vector, payload follows at once
)

func (k kind) String() string {
	switch k {
	case kindPush:
		return "push"
	case kindAccept:
		return "accept"
	case kindRefuse:
		return "refuse"
	case kindReply:
		return "reply"
	case kindCommit:
		return "commit"
	case kindDone:
		return "done"
	case kindFetch:
		return "fetch"
	case kindFinal:
		return "final"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k kind) hasPayload() bool { return k == kindPush || k == kindReply || k == kindFinal }

// Flags.
const flagEqual = 1 // consensus phase: average with equal weights

// status says why a message was refused.
type status uint8

const (
	stNone       status = 0
	stBusy       status = 1 // in another exchange; try another partner
	stUnknownJob status = 2
	stBanned     status = 3 // sender's reputation is below the threshold
	stBadLength  status = 4
	stRejected   status = 5 // vector had NaN/Inf or a bad checksum
	stFrozen     status = 6 // the job is final: no more averaging
	stNotFinal   status = 7 // fetch before the final vector exists
	stLocal      status = 8 // responder's own state is unusable (closed, NaN)
	stProtocol   status = 9 // unexpected message
)

func (s status) String() string {
	switch s {
	case stNone:
		return "none"
	case stBusy:
		return "busy"
	case stUnknownJob:
		return "unknown job"
	case stBanned:
		return "banned (low reputation)"
	case stBadLength:
		return "wrong vector length"
	case stRejected:
		return "vector rejected"
	case stFrozen:
		return "job is final"
	case stNotFinal:
		return "final vector not ready"
	case stLocal:
		return "peer cannot average now"
	case stProtocol:
		return "protocol error"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Encoding is how a vector travels on the wire.
type Encoding uint8

const (
	EncF32  Encoding = 1
	EncF16  Encoding = 2
	EncInt8 Encoding = 3
)

func (e Encoding) String() string {
	switch e {
	case EncF32:
		return "f32"
	case EncF16:
		return "fp16"
	case EncInt8:
		return "int8"
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

func (e Encoding) valid() bool { return e >= EncF32 && e <= EncInt8 }

// ParseEncoding reads a --compress value: "none"/"f32"/"fp32", "fp16"/"f16", "int8".
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "", "none", "f32", "fp32":
		return EncF32, nil
	case "fp16", "f16":
		return EncF16, nil
	case "int8":
		return EncInt8, nil
	}
	return 0, fmt.Errorf("avg: unknown compression %q (want none, fp16 or int8)", s)
}

// header is one decoded message header.
type header struct {
	Kind     kind
	Enc      Encoding
	Flags    uint8
	Status   status
	Round    uint64
	Weight   float64
	Length   uint32
	Chunk    uint32
	Sum      [32]byte
	Clip     float64 // sender's ClippedGossip radius; the pair clips with the smaller (0 = none)
	Job      string
	Msg      string
	reserved uint16
}

func (h *header) marshal() []byte {
	b := make([]byte, headerLen, headerLen+len(h.Job)+len(h.Msg))
	copy(b, frameMagic)
	b[4] = frameVersion
	b[5] = byte(h.Kind)
	b[6] = byte(h.Enc)
	b[7] = h.Flags
	b[8] = byte(h.Status)
	binary.BigEndian.PutUint64(b[9:], h.Round)
	binary.BigEndian.PutUint64(b[17:], math.Float64bits(h.Weight))
	binary.BigEndian.PutUint32(b[25:], h.Length)
	binary.BigEndian.PutUint32(b[29:], h.Chunk)
	copy(b[33:65], h.Sum[:])
	binary.BigEndian.PutUint64(b[65:], math.Float64bits(h.Clip))
	// Clip on a rune boundary: the receiver rejects text that is not
	// UTF-8, so a byte cut through a rune would lose the whole message
	// (a refusal's reason is often an error text quoting peer data).
	job, msg := clip.String(h.Job, MaxJobIDLen), clip.String(h.Msg, maxMsgLen)
	b[73] = byte(len(job))
	b[74] = byte(len(msg))
	b = append(b, job...)
	return append(b, msg...)
}

func writeHeader(w io.Writer, h *header) error {
	_, err := w.Write(h.marshal())
	return err
}

// readHeader reads and validates one header. It never allocates more than
// MaxJobIDLen+maxMsgLen bytes beyond the fixed part.
func readHeader(r io.Reader) (header, error) {
	var h header
	var b [headerLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return h, fmt.Errorf("avg: reading header: %w", err)
	}
	if string(b[:4]) != frameMagic {
		return h, fmt.Errorf("avg: bad magic %q (not a %s message)", b[:4], ProtocolName)
	}
	if b[4] != frameVersion {
		return h, fmt.Errorf("avg: unsupported frame version %d (want %d)", b[4], frameVersion)
	}
	h.Kind = kind(b[5])
	if h.Kind < kindPush || h.Kind > kindFinal {
		return h, fmt.Errorf("avg: unknown message kind %d", b[5])
	}
	h.Enc = Encoding(b[6])
	h.Flags = b[7]
	h.Status = status(b[8])
	h.Round = binary.BigEndian.Uint64(b[9:])
	h.Weight = math.Float64frombits(binary.BigEndian.Uint64(b[17:]))
	h.Length = binary.BigEndian.Uint32(b[25:])
	h.Chunk = binary.BigEndian.Uint32(b[29:])
	copy(h.Sum[:], b[33:65])
	h.Clip = math.Float64frombits(binary.BigEndian.Uint64(b[65:]))
	jobLen, msgLen := int(b[73]), int(b[74])
	h.reserved = binary.BigEndian.Uint16(b[75:])
	if h.Flags&^flagEqual != 0 {
		return h, fmt.Errorf("avg: unknown flags %#x", h.Flags)
	}
	if h.reserved != 0 {
		return h, fmt.Errorf("avg: reserved header bytes are %#x, want 0", h.reserved)
	}
	if h.Status > stProtocol {
		return h, fmt.Errorf("avg: unknown status %d", b[8])
	}
	if h.Kind != kindRefuse && h.Status != stNone {
		return h, fmt.Errorf("avg: %s message with status %d", h.Kind, b[8])
	}
	if math.IsNaN(h.Weight) || h.Weight < 0 || h.Weight > maxWeight {
		return h, fmt.Errorf("avg: weight %v outside [0, %g]", h.Weight, maxWeight)
	}
	if !(h.Clip >= 0) || math.IsInf(h.Clip, 0) {
		return h, fmt.Errorf("avg: clip radius %v (want finite, >= 0)", h.Clip)
	}
	if h.Kind.hasPayload() {
		if !h.Enc.valid() {
			return h, fmt.Errorf("avg: unknown encoding %d", b[6])
		}
		if h.Length == 0 || h.Length > MaxVectorLen {
			return h, fmt.Errorf("avg: vector length %d outside [1, %d]", h.Length, MaxVectorLen)
		}
		if h.Chunk == 0 || h.Chunk > maxChunk {
			return h, fmt.Errorf("avg: chunk of %d elements outside [1, %d]", h.Chunk, maxChunk)
		}
	} else if h.Enc != 0 || h.Length != 0 || h.Chunk != 0 {
		return h, fmt.Errorf("avg: %s message must not announce a payload", h.Kind)
	}
	if jobLen > MaxJobIDLen {
		return h, fmt.Errorf("avg: job id of %d bytes exceeds %d", jobLen, MaxJobIDLen)
	}
	var tail [MaxJobIDLen + maxMsgLen]byte
	if _, err := io.ReadFull(r, tail[:jobLen+msgLen]); err != nil {
		return h, fmt.Errorf("avg: reading job id and message: %w", err)
	}
	if !utf8.Valid(tail[:jobLen]) || !utf8.Valid(tail[jobLen:jobLen+msgLen]) {
		return h, errors.New("avg: job id or message is not UTF-8")
	}
	h.Job = string(tail[:jobLen])
	h.Msg = string(tail[jobLen : jobLen+msgLen])
	return h, nil
}

// payloadSize is the exact byte size of a payload.
func payloadSize(enc Encoding, n, chunk int) int {
	switch enc {
	case EncF32:
		return 4 * n
	case EncF16:
		return 2 * n
	case EncInt8:
		return n + 4*((n+chunk-1)/chunk)
	}
	return 0
}

const maxF16 = 65504

// encodeVector appends the payload of v to dst and writes into dec the values
// the receiver will decode, so both ends average exactly the same numbers
// and the sender knows what compression lost (for error feedback). A
// non-finite value travels as such (int8: its chunk's scale becomes NaN), so
// the receiver is the one that rejects it.
func encodeVector(dst []byte, enc Encoding, chunk int, v, dec []float32) []byte {
	switch enc {
	case EncF32:
		for i, x := range v {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
			dec[i] = x
		}
	case EncF16:
		for i, x := range v {
			if x > maxF16 && x <= math.MaxFloat32 {
				x = maxF16
			} else if x < -maxF16 && x >= -math.MaxFloat32 {
				x = -maxF16
			}
			h := modelfile.Float32ToF16(x)
			dst = binary.LittleEndian.AppendUint16(dst, h)
			dec[i] = modelfile.F16ToFloat32(h)
		}
	case EncInt8:
		for lo := 0; lo < len(v); lo += chunk {
			hi := min(lo+chunk, len(v))
			// engine/quant is the one int8 rounding of the project: the
			// model quantizer rounds weights the same way.
			m, finite := quant.MaxAbs(v[lo:hi])
			scale := quant.Scale(m)
			if !finite {
				scale = float32(math.NaN())
			}
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(scale))
			for i := lo; i < hi; i++ {
				q := quant.Round(v[i], scale) // 0 for a NaN or 0 scale
				dst = append(dst, byte(q))
				dec[i] = float32(q) * scale
			}
		}
	}
	return dst
}

// readPayload reads the payload announced by h into out (len(out) must equal
// h.Length, which the caller checked against its own vector), verifies the
// checksum and decodes it. buf is scratch space, grown if needed and returned.
// It does not check finiteness: see checkFinite.
func readPayload(r io.Reader, h *header, out []float32, buf []byte) ([]byte, error) {
	if int(h.Length) != len(out) {
		return buf, fmt.Errorf("avg: payload of %d elements, want %d", h.Length, len(out))
	}
	chunk := int(h.Chunk)
	per := payloadSize(h.Enc, chunk, chunk)
	if cap(buf) < per {
		buf = make([]byte, per)
	}
	var sum hash.Hash = sha256.New()
	for lo := 0; lo < len(out); lo += chunk {
		hi := min(lo+chunk, len(out))
		b := buf[:payloadSize(h.Enc, hi-lo, chunk)]
		if _, err := io.ReadFull(r, b); err != nil {
			return buf, fmt.Errorf("avg: reading payload at element %d of %d: %w", lo, len(out), err)
		}
		sum.Write(b)
		switch h.Enc {
		case EncF32:
			for i := lo; i < hi; i++ {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*(i-lo):]))
			}
		case EncF16:
			for i := lo; i < hi; i++ {
				out[i] = modelfile.F16ToFloat32(binary.LittleEndian.Uint16(b[2*(i-lo):]))
			}
		case EncInt8:
			scale := math.Float32frombits(binary.LittleEndian.Uint32(b))
			if !(scale >= 0) || math.IsInf(float64(scale), 0) {
				return buf, fmt.Errorf("avg: int8 chunk at element %d has scale %v (want finite, >= 0): %w", lo, scale, errNonFinite)
			}
			for i := lo; i < hi; i++ {
				q := int8(b[4+i-lo])
				if q == -128 {
					return buf, fmt.Errorf("avg: int8 value -128 at element %d (symmetric range is [-127, 127])", i)
				}
				out[i] = float32(q) * scale
			}
		}
	}
	var got [32]byte
	sum.Sum(got[:0])
	if got != h.Sum {
		return buf, fmt.Errorf("avg: payload checksum mismatch (got %x…, header says %x…)", got[:6], h.Sum[:6])
	}
	return buf, nil
}

var errNonFinite = errors.New("non-finite value")

// checkFinite reports the first NaN or Inf in v.
func checkFinite(v []float32) error {
	for i, x := range v {
		if x != x || x > math.MaxFloat32 || x < -math.MaxFloat32 {
			return fmt.Errorf("avg: element %d is %v: %w", i, x, errNonFinite)
		}
	}
	return nil
}
