package forward

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/inference"
)

func TestRequestRoundTrip(t *testing.T) {
	for _, rq := range []request{
		{Op: opPredict, Model: "days", Version: 3, Label: "stable", Timeout: 1500 * time.Millisecond, Texts: []string{"今天天气很好", ""}},
		{Op: opPredict, Model: "mlp", Vectors: [][]float32{{1, 2, 3}, {-4, 5.5, 0}}},
		{Op: opMetadata, Model: "mlp", Label: "canary"},
	} {
		b, err := encodeRequest(rq)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(rq.Texts) == 0 {
			rq.Texts = got.Texts // empty vs nil
		}
		if !reflect.DeepEqual(got, rq) {
			t.Fatalf("round trip: %+v != %+v", got, rq)
		}
	}
	if _, err := encodeRequest(request{Op: opPredict, Model: "m", Vectors: [][]float32{{1}, {1, 2}}}); !errors.Is(err, inference.ErrBadInput) {
		t.Fatalf("ragged vectors: %v", err)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, rs := range []response{
		{Status: statusPredictions, Preds: []inference.Prediction{{Label: "b", Class: 1, Probability: 0.7, Probabilities: []float64{0.2, 0.7, 0.1}}}},
		{Status: statusMetadata, Meta: metadata{Name: "mlp", Version: 2, Labels: map[string]int{"stable": 2},
			Sig: inference.Signature{Kind: inference.KindImage, InputShape: []int{28, 28}, InputSize: 784, Labels: []string{"0", "1"}, Hash: "ab", Quantized: true}}},
		{Status: statusError, ErrKind: errOverloaded, ErrMsg: "queue full"},
	} {
		b, err := encodeResponse(rs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		if rs.Status == statusPredictions || rs.Status == statusError {
			got.Meta = rs.Meta
		}
		if rs.Status != statusPredictions {
			got.Preds = rs.Preds
		}
		if !reflect.DeepEqual(got, rs) {
			t.Fatalf("round trip: %+v != %+v", got, rs)
		}
	}
}

// be builds a payload from parts: a byte, a uint16/uint32/uint64 (as
// big-endian of that size), or a string (raw bytes).
func be(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case uint16:
			b = binary.BigEndian.AppendUint16(b, v)
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		}
	}
	return b
}

// head is a valid request head for model "m": op predict, version 0, no
// label, no timeout.
func head(rest ...any) []byte {
	return be(append([]any{byte(opPredict), uint16(1), "m", uint32(0), uint16(0), uint64(0)}, rest...)...)
}

func TestDecodeRequestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated op"},
		{"bad op", be(byte(9)), "unknown op 9"},
		{"no model", be(byte(opPredict), uint16(0)), "no model name"},
		{"model cut", be(byte(opPredict), uint16(5), "ab"), "truncated model"},
		{"long model", be(byte(opPredict), uint16(2000)), "model of 2000 bytes"},
		{"bad utf8", be(byte(opPredict), uint16(2), "\xff\xfe"), "not valid UTF-8"},
		{"no version", be(byte(opPredict), uint16(1), "m"), "truncated version"},
		{"huge timeout", be(byte(opPredict), uint16(1), "m", uint32(0), uint16(0), uint64(math.MaxUint64)), "timeout"},
		{"no kind", head(), "truncated input kind"},
		{"bad kind", head(byte(7)), "unknown input kind 7"},
		{"none with inputs", head(byte(kindNone), uint32(3)), "3 inputs of kind none"},
		{"too many texts", head(byte(kindText), uint32(maxInputs+1)), "inputs, limit"},
		{"forged text count", head(byte(kindText), uint32(1000)), "cannot fit"},
		{"text cut", head(byte(kindText), uint32(1), uint32(10), "abc"), "truncated text"},
		{"zero dim", head(byte(kindF32), uint32(1), uint32(0)), "input size 0"},
		{"huge dim", head(byte(kindF32), uint32(1), uint32(maxDim+1)), "out of range"},
		{"forged vectors", head(byte(kindF32), uint32(60000), uint32(784)), "truncated: 60000 inputs"},
		{"values cut", head(byte(kindF32), uint32(1), uint32(2), "1234"), "truncated"},
		{"trailing", head(byte(kindNone), uint32(0), "x"), "1 bytes of trailing data"},
		{"metadata with inputs", be(byte(opMetadata), uint16(1), "m", uint32(0), uint16(0), uint64(0), byte(kindText), uint32(1), uint32(0)), "metadata request with inputs"},
		{"too big", make([]byte, MaxFrameSize+1), "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRequest(tc.in)
			if err == nil {
				t.Fatalf("accepted %q", tc.in)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeResponseMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated status"},
		{"bad status", be(byte(5)), "unknown status 5"},
		{"forged predictions", be(byte(statusPredictions), uint32(1000)), "cannot fit"},
		{"class beyond", be(byte(statusPredictions), uint32(1), uint32(3), uint16(0), uint64(0), uint32(2), uint64(0), uint64(0)), "class 3 of 2"},
		{"forged classes", be(byte(statusPredictions), uint32(1), uint32(0), uint16(0), uint64(0), uint32(50000), uint64(0), uint64(0)), "cannot fit"},
		{"too many dims", be(byte(statusMetadata), uint16(1), "m", uint32(1), uint16(0), byte(9)), "9 dims"},
		{"bad int8", be(byte(statusMetadata), uint16(1), "m", uint32(1), uint16(0), byte(0), uint32(1), uint32(0), uint16(0), byte(3)), "int8 flag 3"},
		{"label map cut", be(byte(statusMetadata), uint16(1), "m", uint32(1), uint16(0), byte(0), uint32(1), uint32(0), uint16(0), byte(0), uint16(2)), "truncated"},
		{"bad error kind", be(byte(statusError), byte(0), uint16(0)), "unknown error kind 0"},
		{"message cut", be(byte(statusError), byte(errInternal), uint16(10), "ab"), "truncated error message"},
		{"trailing", be(byte(statusError), byte(errInternal), uint16(0), "zz"), "trailing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeResponse(tc.in)
			if err == nil {
				t.Fatalf("accepted %q", tc.in)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestReadFrameLimit(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(bytes.NewReader(buf.Bytes()), 4); err == nil || !strings.Contains(err.Error(), "limit 4") {
		t.Fatalf("over the limit: %v", err)
	}
	if b, err := readFrame(bytes.NewReader(buf.Bytes()), 5); err != nil || string(b) != "hello" {
		t.Fatalf("at the limit: %q, %v", b, err)
	}
	if _, err := readFrame(bytes.NewReader(buf.Bytes()[:6]), 5); err == nil || !strings.Contains(err.Error(), "frame body") {
		t.Fatalf("cut body: %v", err)
	}
	if _, err := readFrame(bytes.NewReader([]byte{0, 0}), 5); err == nil || !strings.Contains(err.Error(), "frame header") {
		t.Fatalf("cut header: %v", err)
	}
}

func TestRemoteErrorKinds(t *testing.T) {
	for kind, want := range map[byte]error{
		errModelNotFound: inference.ErrModelNotFound, errVersionNotFound: inference.ErrVersionNotFound,
		errBadInput: inference.ErrBadInput, errOverloaded: inference.ErrOverloaded, errNotReady: inference.ErrNotReady,
	} {
		err := &RemoteError{Peer: "12D3KooWabcdefgh", Kind: kind, Msg: "x"}
		if !errors.Is(err, want) || errorKind(err) != kind {
			t.Errorf("kind %d: %v does not wrap %v", kind, err, want)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, rq := range []request{
		{Op: opPredict, Model: "days", Texts: []string{"a", "bc"}, Timeout: time.Second},
		{Op: opPredict, Model: "mlp", Version: 2, Vectors: [][]float32{{1, 2}}},
		{Op: opMetadata, Model: "m", Label: "stable"},
	} {
		b, _ := encodeRequest(rq)
		f.Add(b)
	}
	f.Add(head(byte(kindF32), uint32(60000), uint32(784)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rq, err := decodeRequest(data)
		if err != nil {
			return
		}
		b, err := encodeRequest(rq)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		if _, err := decodeRequest(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, rs := range []response{
		{Status: statusPredictions, Preds: []inference.Prediction{{Label: "a", Class: 0, Probability: 1, Probabilities: []float64{1}}}},
		{Status: statusMetadata, Meta: metadata{Name: "m", Version: 1, Labels: map[string]int{"s": 1}, Sig: inference.Signature{Kind: "text", Labels: []string{"a"}}}},
		{Status: statusError, ErrKind: errBadInput, ErrMsg: "no"},
	} {
		b, _ := encodeResponse(rs)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := decodeResponse(data)
		if err != nil {
			return
		}
		b, err := encodeResponse(rs)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		if _, err := decodeResponse(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
