package forward

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/serve/inference"
)

// ProtocolName is the stream protocol's name under the mesh id
// (mesh.Node.Protocol gives /shoal/<meshid>/infer/1.0.0).
const ProtocolName = "infer/1.0.0"

// Limits of the wire format, with their reasons.
const (
	// MaxFrameSize bounds one frame: the model server's own body limit
	// (16 MiB) fits in it, about 5,000 MNIST images as float32.
	MaxFrameSize = 16 << 20
	// maxStr16 bounds a short string (model name, label, message).
	maxStr16 = 1 << 10
	// maxInputs is the most inputs one request may carry.
	maxInputs = artifact.MaxBatch
	// maxDim bounds one numeric input's length, maxClasses a prediction's.
	maxDim     = 1 << 22
	maxClasses = 1 << 16
	// maxDims bounds a signature's shape; maxLabelMap its label map.
	maxDims     = 8
	maxLabelMap = 1 << 10
	// maxTimeout bounds the time a request may ask for.
	maxTimeout = 10 * time.Minute
)

// Ops of a request.
const (
	opPredict  = 1
	opMetadata = 2
)

// Input kinds of a request.
const (
	kindNone = 0
	kindText = 1
	kindF32  = 2
)

// Statuses of a response.
const (
	statusPredictions = 0
	statusMetadata    = 1
	statusError       = 2
)

// Error kinds of a response; each maps to an inference error.
const (
	errInternal        = 1
	errModelNotFound   = 2
	errVersionNotFound = 3
	errBadInput        = 4
	errOverloaded      = 5
	errNotReady        = 6
	errDeadline        = 7
)

// request is one decoded request.
type request struct {
	Op      byte
	Model   string
	Version int
	Label   string
	Timeout time.Duration // 0: the server's default
	Texts   []string
	Vectors [][]float32
}

// metadata answers opMetadata: the version Lookup chose, its signature,
// and the model's labels.
type metadata struct {
	Name    string
	Version int
	Sig     inference.Signature
	Labels  map[string]int
}

// response is one decoded response: exactly one of Preds, Meta, ErrKind.
type response struct {
	Status  byte
	Preds   []inference.Prediction
	Meta    metadata
	ErrKind byte
	ErrMsg  string
}

// writeFrame writes one length-prefixed frame.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > MaxFrameSize {
		return fmt.Errorf("frame of %d bytes, limit %d", len(payload), MaxFrameSize)
	}
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame of at most limit bytes.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if int64(n) > int64(limit) {
		return nil, fmt.Errorf("frame of %d bytes, limit %d", n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("frame body (%d bytes): %w", n, err)
	}
	return b, nil
}

// enc appends wire values to a buffer.
type enc struct {
	b   []byte
	err error
}

func (e *enc) u8(v byte)    { e.b = append(e.b, v) }
func (e *enc) u16(v int)    { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *enc) u32(v int)    { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *enc) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) f64(v float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v))
}

func (e *enc) str16(s string) {
	if len(s) > maxStr16 {
		if e.err == nil {
			e.err = fmt.Errorf("string of %d bytes, limit %d", len(s), maxStr16)
		}
		return
	}
	e.u16(len(s))
	e.b = append(e.b, s...)
}

// uint32In reports whether v fits the u32 fields it is written to.
func uint32In(v int) bool { return v >= 0 && int64(v) <= math.MaxUint32 }

// encodeRequest renders rq; inputs are strings or float32/float64 vectors
// of one length.
func encodeRequest(rq request) ([]byte, error) {
	if !uint32In(rq.Version) {
		return nil, fmt.Errorf("version %d out of range", rq.Version)
	}
	if len(rq.Texts) > maxInputs || len(rq.Vectors) > maxInputs {
		return nil, fmt.Errorf("%w: more than %d inputs", inference.ErrBadInput, maxInputs)
	}
	e := &enc{b: make([]byte, 0, 64)}
	e.u8(rq.Op)
	e.str16(rq.Model)
	e.u32(rq.Version)
	e.str16(rq.Label)
	e.u64(uint64(max(rq.Timeout, 0)))
	switch {
	case len(rq.Texts) > 0:
		e.u8(kindText)
		e.u32(len(rq.Texts))
		for _, s := range rq.Texts {
			e.u32(len(s))
			e.b = append(e.b, s...)
		}
	case len(rq.Vectors) > 0:
		dim := len(rq.Vectors[0])
		if dim > maxDim {
			return nil, fmt.Errorf("%w: input of %d values, limit %d", inference.ErrBadInput, dim, maxDim)
		}
		e.u8(kindF32)
		e.u32(len(rq.Vectors))
		e.u32(dim)
		e.b = append(e.b, make([]byte, 0, 4*dim*len(rq.Vectors))...)
		for i, v := range rq.Vectors {
			if len(v) != dim {
				return nil, fmt.Errorf("%w: input %d has %d values, input 1 has %d", inference.ErrBadInput, i+1, len(v), dim)
			}
			for _, f := range v {
				e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(f))
			}
		}
	default:
		e.u8(kindNone)
		e.u32(0)
	}
	if e.err != nil {
		return nil, e.err
	}
	if len(e.b) > MaxFrameSize {
		return nil, fmt.Errorf("%w: request of %d bytes is too large to forward (limit %d)", inference.ErrBadInput, len(e.b), MaxFrameSize)
	}
	return e.b, nil
}

// dec reads wire values; the first error sticks and later reads return
// zero values.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated %s: want %d bytes, %d left", what, n, len(d.b))
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *dec) u8(what string) byte {
	if b := d.take(1, what); b != nil {
		return b[0]
	}
	return 0
}

func (d *dec) u16(what string) int {
	if b := d.take(2, what); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (d *dec) u32(what string) int {
	if b := d.take(4, what); b != nil {
		return int(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (d *dec) u64(what string) uint64 {
	if b := d.take(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *dec) f64(what string) float64 {
	if b := d.take(8, what); b != nil {
		return math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return 0
}

func (d *dec) str16(what string) string {
	n := d.u16(what + " length")
	if n > maxStr16 {
		d.fail("%s of %d bytes, limit %d", what, n, maxStr16)
		return ""
	}
	b := d.take(n, what)
	if d.err == nil && !utf8.Valid(b) {
		d.fail("%s is not valid UTF-8", what)
	}
	return string(b)
}

// count reads a u32 count of items of at least minSize bytes each, refusing
// one above limit or one the rest of the frame cannot hold (so a forged
// count cannot make the decoder allocate).
func (d *dec) count(what string, limit, minSize int) int {
	n := d.u32(what)
	if d.err != nil {
		return 0
	}
	if n > limit {
		d.fail("%d %s, limit %d", n, what, limit)
		return 0
	}
	if minSize > 0 && n > len(d.b)/minSize {
		d.fail("truncated: %d %s cannot fit in %d bytes", n, what, len(d.b))
		return 0
	}
	return n
}

func (d *dec) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes of trailing data", len(d.b))
	}
	return d.err
}

// decodeRequest parses one request payload. It never panics.
func decodeRequest(b []byte) (request, error) {
	if len(b) > MaxFrameSize {
		return request{}, fmt.Errorf("request of %d bytes, limit %d", len(b), MaxFrameSize)
	}
	d := &dec{b: b}
	var rq request
	rq.Op = d.u8("op")
	if d.err == nil && rq.Op != opPredict && rq.Op != opMetadata {
		d.fail("unknown op %d", rq.Op)
	}
	rq.Model = d.str16("model")
	if d.err == nil && rq.Model == "" {
		d.fail("no model name")
	}
	rq.Version = d.u32("version")
	rq.Label = d.str16("label")
	t := d.u64("timeout")
	if d.err == nil && t > uint64(maxTimeout) {
		d.fail("timeout %v, limit %v", time.Duration(min(t, math.MaxInt64)), maxTimeout)
	}
	rq.Timeout = time.Duration(t)
	kind := d.u8("input kind")
	switch kind {
	case kindNone:
		if n := d.u32("inputs"); d.err == nil && n != 0 {
			d.fail("%d inputs of kind none", n)
		}
	case kindText:
		n := d.count("inputs", maxInputs, 4)
		rq.Texts = make([]string, 0, n)
		for range n {
			l := d.u32("text length")
			s := d.take(l, "text")
			if d.err != nil {
				break
			}
			rq.Texts = append(rq.Texts, string(s))
		}
	case kindF32:
		n := d.count("inputs", maxInputs, 0)
		dim := d.u32("input size")
		if d.err == nil && (dim == 0 || dim > maxDim) {
			d.fail("input size %d out of range [1, %d]", dim, maxDim)
		}
		if d.err == nil && int64(n)*int64(dim)*4 > int64(len(d.b)) {
			d.fail("truncated: %d inputs of %d values need %d bytes, %d left", n, dim, int64(n)*int64(dim)*4, len(d.b))
		}
		if d.err == nil {
			flat := make([]float32, n*dim)
			raw := d.take(4*n*dim, "values")
			for i := range flat {
				flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			rq.Vectors = make([][]float32, n)
			for i := range rq.Vectors {
				rq.Vectors[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
			}
		}
	default:
		d.fail("unknown input kind %d", kind)
	}
	if d.err == nil && rq.Op == opMetadata && (len(rq.Texts) > 0 || len(rq.Vectors) > 0) {
		d.fail("metadata request with inputs")
	}
	if err := d.end(); err != nil {
		return request{}, fmt.Errorf("infer request: %w", err)
	}
	return rq, nil
}

// encodeResponse renders rs.
func encodeResponse(rs response) ([]byte, error) {
	e := &enc{b: make([]byte, 0, 64)}
	e.u8(rs.Status)
	switch rs.Status {
	case statusPredictions:
		e.u32(len(rs.Preds))
		for _, p := range rs.Preds {
			if !uint32In(p.Class) || len(p.Probabilities) > maxClasses {
				return nil, fmt.Errorf("prediction out of range (class %d, %d classes)", p.Class, len(p.Probabilities))
			}
			e.u32(p.Class)
			e.str16(p.Label)
			e.f64(p.Probability)
			e.u32(len(p.Probabilities))
			for _, q := range p.Probabilities {
				e.f64(q)
			}
		}
	case statusMetadata:
		m := rs.Meta
		if !uint32In(m.Version) || !uint32In(m.Sig.InputSize) || len(m.Sig.InputShape) > maxDims ||
			len(m.Sig.Labels) > maxClasses || len(m.Labels) > maxLabelMap {
			return nil, errors.New("metadata out of range")
		}
		e.str16(m.Name)
		e.u32(m.Version)
		e.str16(m.Sig.Kind)
		e.u8(byte(len(m.Sig.InputShape)))
		for _, s := range m.Sig.InputShape {
			if !uint32In(s) {
				return nil, errors.New("metadata shape out of range")
			}
			e.u32(s)
		}
		e.u32(m.Sig.InputSize)
		e.u32(len(m.Sig.Labels))
		for _, l := range m.Sig.Labels {
			e.str16(l)
		}
		e.str16(m.Sig.Hash)
		if m.Sig.Quantized {
			e.u8(1)
		} else {
			e.u8(0)
		}
		e.u16(len(m.Labels))
		for l, v := range m.Labels {
			if !uint32In(v) {
				return nil, errors.New("metadata label version out of range")
			}
			e.str16(l)
			e.u32(v)
		}
	case statusError:
		e.u8(rs.ErrKind)
		msg := rs.ErrMsg
		if len(msg) > maxStr16 {
			msg = msg[:maxStr16]
			for !utf8.ValidString(msg) {
				msg = msg[:len(msg)-1]
			}
		}
		e.str16(msg)
	default:
		return nil, fmt.Errorf("unknown status %d", rs.Status)
	}
	if e.err != nil {
		return nil, e.err
	}
	if len(e.b) > MaxFrameSize {
		return nil, fmt.Errorf("response of %d bytes, limit %d", len(e.b), MaxFrameSize)
	}
	return e.b, nil
}

// decodeResponse parses one response payload. It never panics.
func decodeResponse(b []byte) (response, error) {
	if len(b) > MaxFrameSize {
		return response{}, fmt.Errorf("response of %d bytes, limit %d", len(b), MaxFrameSize)
	}
	d := &dec{b: b}
	var rs response
	rs.Status = d.u8("status")
	switch rs.Status {
	case statusPredictions:
		// class, label length, probability, class count: 18 bytes at least.
		n := d.count("predictions", maxInputs, 18)
		rs.Preds = make([]inference.Prediction, 0, n)
		for range n {
			var p inference.Prediction
			p.Class = d.u32("class")
			p.Label = d.str16("label")
			p.Probability = d.f64("probability")
			k := d.count("classes", maxClasses, 8)
			if d.err != nil {
				break
			}
			if p.Class >= k {
				d.fail("class %d of %d", p.Class, k)
				break
			}
			p.Probabilities = make([]float64, k)
			for j := range p.Probabilities {
				p.Probabilities[j] = d.f64("probabilities")
			}
			rs.Preds = append(rs.Preds, p)
		}
	case statusMetadata:
		m := &rs.Meta
		m.Name = d.str16("name")
		m.Version = d.u32("version")
		m.Sig.Kind = d.str16("kind")
		nd := int(d.u8("dims"))
		if d.err == nil && nd > maxDims {
			d.fail("%d dims, limit %d", nd, maxDims)
		}
		m.Sig.InputShape = []int{}
		for range nd {
			m.Sig.InputShape = append(m.Sig.InputShape, d.u32("shape"))
		}
		m.Sig.InputSize = d.u32("input size")
		if d.err == nil && m.Sig.InputSize > maxDim {
			d.fail("input size %d, limit %d", m.Sig.InputSize, maxDim)
		}
		nl := d.count("labels", maxClasses, 2)
		for range nl {
			m.Sig.Labels = append(m.Sig.Labels, d.str16("label"))
		}
		m.Sig.Hash = d.str16("hash")
		switch q := d.u8("int8"); q {
		case 0:
		case 1:
			m.Sig.Quantized = true
		default:
			d.fail("int8 flag %d", q)
		}
		nm := d.u16("label map")
		if d.err == nil && nm > maxLabelMap {
			d.fail("%d labels in map, limit %d", nm, maxLabelMap)
		}
		m.Labels = map[string]int{}
		for range nm {
			l := d.str16("label")
			m.Labels[l] = d.u32("label version")
		}
	case statusError:
		rs.ErrKind = d.u8("error kind")
		rs.ErrMsg = d.str16("error message")
		if d.err == nil && (rs.ErrKind < errInternal || rs.ErrKind > errDeadline) {
			d.fail("unknown error kind %d", rs.ErrKind)
		}
	default:
		d.fail("unknown status %d", rs.Status)
	}
	if err := d.end(); err != nil {
		return response{}, fmt.Errorf("infer response: %w", err)
	}
	return rs, nil
}

// errorKind classifies an error from the local catalog or model.
func errorKind(err error) byte {
	switch {
	case errors.Is(err, inference.ErrModelNotFound):
		return errModelNotFound
	case errors.Is(err, inference.ErrVersionNotFound):
		return errVersionNotFound
	case errors.Is(err, inference.ErrBadInput):
		return errBadInput
	case errors.Is(err, inference.ErrOverloaded):
		return errOverloaded
	case errors.Is(err, inference.ErrNotReady):
		return errNotReady
	case errors.Is(err, context.DeadlineExceeded):
		return errDeadline
	}
	return errInternal
}

// RemoteError is an error a peer answered with. It wraps the inference
// error of its kind (context.DeadlineExceeded for a deadline), so
// front-ends map it to the same status code as a local one.
type RemoteError struct {
	Peer string // the peer's id
	Kind byte
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg + " (peer " + shortID(e.Peer) + ")" }

// Unwrap is the inference error of the kind.
func (e *RemoteError) Unwrap() error {
	switch e.Kind {
	case errModelNotFound:
		return inference.ErrModelNotFound
	case errVersionNotFound:
		return inference.ErrVersionNotFound
	case errBadInput:
		return inference.ErrBadInput
	case errOverloaded:
		return inference.ErrOverloaded
	case errNotReady:
		return inference.ErrNotReady
	case errDeadline:
		return context.DeadlineExceeded
	}
	return nil
}

// shortID is the tail of a peer id, as logs show it.
func shortID(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-6:]
	}
	return id
}
