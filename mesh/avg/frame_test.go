package avg

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func randVec(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// frame builds a complete push frame (header + payload) for v.
func frame(t testing.TB, enc Encoding, chunk int, v []float32) []byte {
	dec := make([]float32, len(v))
	payload := encodeVector(nil, enc, chunk, v, dec)
	h := header{Kind: kindPush, Enc: enc, Round: 7, Weight: 3, Length: uint32(len(v)), Chunk: uint32(chunk),
		Sum: sha256.Sum256(payload), Job: "job-1"}
	return append(h.marshal(), payload...)
}

func decodeFrame(b []byte, expect int) (header, []float32, error) {
	r := bytes.NewReader(b)
	h, err := readHeader(r)
	if err != nil || !h.Kind.hasPayload() {
		return h, nil, err
	}
	out := make([]float32, expect)
	if _, err := readPayload(r, &h, out, nil); err != nil {
		return h, nil, err
	}
	return h, out, checkFinite(out)
}

func TestRoundTripEncodings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	v := randVec(r, 10_000+17, 0.05) // not a multiple of the chunk
	v[3] = 0
	v[4] = 1e-30 // f16 underflow
	for _, c := range []struct {
		enc    Encoding
		relErr float64 // bound on ‖dec − v‖ / ‖v‖
		ratio  float64 // payload bytes / f32 bytes
	}{
		{EncF32, 0, 1},
		{EncF16, 1e-3, 0.5},
		{EncInt8, 0.01, 0.252},
	} {
		t.Run(c.enc.String(), func(t *testing.T) {
			b := frame(t, c.enc, 1000, v)
			h, got, err := decodeFrame(b, len(v))
			if err != nil {
				t.Fatal(err)
			}
			if h.Round != 7 || h.Weight != 3 || h.Job != "job-1" || h.Enc != c.enc {
				t.Fatalf("header %+v", h)
			}
			var d2, n2 float64
			for i := range v {
				d := float64(got[i] - v[i])
				d2 += d * d
				n2 += float64(v[i]) * float64(v[i])
			}
			if rel := math.Sqrt(d2 / n2); rel > c.relErr {
				t.Errorf("relative error %.3g > %.3g", rel, c.relErr)
			}
			ps := payloadSize(c.enc, len(v), 1000)
			if ratio := float64(ps) / float64(4*len(v)); ratio > c.ratio {
				t.Errorf("payload ratio %.4f > %.4f", ratio, c.ratio)
			}
			if len(b) != headerLen+len("job-1")+ps {
				t.Errorf("frame is %d bytes, want %d", len(b), headerLen+5+ps)
			}
			// What the sender believes it sent is what arrives.
			dec := make([]float32, len(v))
			encodeVector(nil, c.enc, 1000, v, dec)
			for i := range dec {
				if math.Float32bits(dec[i]) != math.Float32bits(got[i]) {
					t.Fatalf("element %d: sender decodes %v, receiver %v", i, dec[i], got[i])
				}
			}
		})
	}
}

func TestF16Saturates(t *testing.T) {
	v := []float32{1e6, -1e6, 65504, 1}
	_, got, err := decodeFrame(frame(t, EncF16, 4, v), 4)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 65504 || got[1] != -65504 || got[3] != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestNonFiniteRejected(t *testing.T) {
	for _, enc := range []Encoding{EncF32, EncF16, EncInt8} {
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			v := []float32{1, 2, 3, bad, 5}
			_, _, err := decodeFrame(frame(t, enc, 2, v), len(v))
			if !errors.Is(err, errNonFinite) {
				t.Errorf("%s with %v: err = %v, want non-finite", enc, bad, err)
			}
		}
	}
}

func TestMalformedFrames(t *testing.T) {
	good := frame(t, EncInt8, 4, []float32{1, -2, 3, 4, 5, 6})
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name   string
		b      []byte
		expect int
		want   string
	}{
		{"empty", nil, 6, "reading header"},
		{"short header", good[:20], 6, "reading header"},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), 6, "bad magic"},
		{"version", mut(func(b []byte) []byte { b[4] = 2; return b }), 6, "unsupported frame version"},
		{"kind 0", mut(func(b []byte) []byte { b[5] = 0; return b }), 6, "unknown message kind"},
		{"kind 99", mut(func(b []byte) []byte { b[5] = 99; return b }), 6, "unknown message kind"},
		{"encoding", mut(func(b []byte) []byte { b[6] = 9; return b }), 6, "unknown encoding"},
		{"flags", mut(func(b []byte) []byte { b[7] = 0x80; return b }), 6, "unknown flags"},
		{"status on push", mut(func(b []byte) []byte { b[8] = 1; return b }), 6, "with status"},
		{"status unknown", mut(func(b []byte) []byte { b[5] = byte(kindRefuse); b[8] = 200; return b }), 6, "unknown status"},
		{"NaN weight", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[17:], math.Float64bits(math.NaN()))
			return b
		}), 6, "weight"},
		{"negative weight", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[17:], math.Float64bits(-1))
			return b
		}), 6, "weight"},
		{"zero length", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[25:], 0); return b }), 6, "vector length"},
		{"huge length", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[25:], 1<<31); return b }), 6, "vector length"},
		{"wrong length", good, 7, "payload of 6 elements, want 7"},
		{"zero chunk", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[29:], 0); return b }), 6, "chunk"},
		{"huge chunk", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[29:], 1<<30); return b }), 6, "chunk"},
		{"reserved", mut(func(b []byte) []byte { b[75] = 1; return b }), 6, "reserved"},
		{"job too long", mut(func(b []byte) []byte { b[73] = 200; return b }), 6, "job id of 200 bytes"},
		{"NaN clip", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[65:], math.Float64bits(math.NaN()))
			return b
		}), 6, "clip radius"},
		{"negative clip", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[65:], math.Float64bits(-2))
			return b
		}), 6, "clip radius"},
		{"job cut", mut(func(b []byte) []byte { return b[:headerLen+2] }), 6, "reading job id"},
		{"job not utf8", mut(func(b []byte) []byte { b[headerLen] = 0xff; return b }), 6, "not UTF-8"},
		{"payload cut", good[:len(good)-3], 6, "reading payload"},
		{"checksum", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), 6, "checksum mismatch"},
		{"int8 -128", mut(func(b []byte) []byte { b[headerLen+5+4] = 0x80; return b }), 6, "-128"},
		{"int8 NaN scale", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[headerLen+5:], math.Float32bits(float32(math.NaN())))
			return b
		}), 6, "scale"},
		{"int8 negative scale", mut(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[headerLen+5:], math.Float32bits(-1))
			return b
		}), 6, "scale"},
		{"payload on accept", (&header{Kind: kindAccept, Enc: EncF32, Length: 3, Chunk: 1}).marshal(), 6, "must not announce a payload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := decodeFrame(c.b, c.expect)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestHeaderTextClipped: job id and message longer than their wire limits
// are cut on a rune boundary, so the receiver (which rejects text that is
// not UTF-8) still decodes the header. A byte cut at the limit would split
// the multi-byte runes below.
func TestHeaderTextClipped(t *testing.T) {
	cases := []struct {
		name, job, msg   string
		wantJob, wantMsg string
	}{
		{"short text kept", "job-1", "busy", "job-1", "busy"},
		{"ascii message cut at the limit", "j", strings.Repeat("a", 300), "j", strings.Repeat("a", maxMsgLen)},
		// 2-byte runes from byte 0: byte 255 is the second half of a rune.
		{"multi-byte message cut on a rune boundary", "j", strings.Repeat("é", 200), "j", strings.Repeat("é", 127)},
		// 3-byte runes after one ASCII byte: the limit falls inside a rune.
		{"3-byte runes cut on a rune boundary", "j", "x" + strings.Repeat("€", 100), "j", "x" + strings.Repeat("€", 84)},
		{"multi-byte job id cut on a rune boundary", "a" + strings.Repeat("ü", 70), "m", "a" + strings.Repeat("ü", 63), "m"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := (&header{Kind: kindRefuse, Status: stRejected, Job: c.job, Msg: c.msg}).marshal()
			if len(b) != headerLen+len(c.wantJob)+len(c.wantMsg) {
				t.Fatalf("frame is %d bytes, want %d", len(b), headerLen+len(c.wantJob)+len(c.wantMsg))
			}
			h, err := readHeader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("clipped header does not decode: %v", err)
			}
			if h.Job != c.wantJob || h.Msg != c.wantMsg {
				t.Fatalf("decoded job %q (%d bytes), msg %q (%d bytes); want %q, %q", h.Job, len(h.Job), h.Msg, len(h.Msg), c.wantJob, c.wantMsg)
			}
			if !utf8.ValidString(h.Job) || !utf8.ValidString(h.Msg) {
				t.Fatal("decoded text is not UTF-8")
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, enc := range []Encoding{EncF32, EncF16, EncInt8} {
		f.Add(frame(f, enc, 3, randVec(r, 10, 1)))
	}
	f.Add((&header{Kind: kindRefuse, Status: stBusy, Msg: "busy", Job: "j"}).marshal())
	f.Add([]byte("SHPV"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := readHeader(r)
		if err != nil || !h.Kind.hasPayload() || h.Length > 1<<16 {
			return
		}
		out := make([]float32, h.Length)
		if _, err := readPayload(r, &h, out, nil); err != nil {
			return
		}
		// Whatever decodes must re-encode to the same checksum for f32.
		if h.Enc == EncF32 && checkFinite(out) == nil {
			p := encodeVector(nil, EncF32, int(h.Chunk), out, make([]float32, len(out)))
			if sha256.Sum256(p) != h.Sum {
				t.Fatal("f32 payload does not re-encode to its checksum")
			}
		}
	})
}

func TestParse(t *testing.T) {
	for s, want := range map[string]Encoding{"none": EncF32, "": EncF32, "fp16": EncF16, "int8": EncInt8} {
		if e, err := ParseEncoding(s); err != nil || e != want {
			t.Errorf("ParseEncoding(%q) = %v, %v", s, e, err)
		}
	}
	if _, err := ParseEncoding("bf16"); err == nil {
		t.Error("bf16 accepted")
	}
	if r, err := ParseRobust("clip"); err != nil || r != RobustClip {
		t.Error("clip")
	}
	if _, err := ParseRobust("krum"); err == nil {
		t.Error("krum accepted")
	}
}
