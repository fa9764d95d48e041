package tfserving

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
)

// The :predict answers are written by hand: encoding/json's reflection
// over a PredictResponse cost about as much as the fast path's decode of
// its request. The writers give byte for byte what json.Marshal gives
// (TestEncodeMatchesMarshal), and give up (ok false) where json.Marshal
// fails (a NaN or an infinite probability), so that writeJSON answers
// with json.Marshal's error as before.

// encodeBufs holds answer buffers between requests.
var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledAnswer bounds the buffers kept in encodeBufs.
const maxPooledAnswer = 64 << 10

// appendAnswer appends v's JSON to b, as json.Marshal writes it, when v
// is an answer with a writer of its own; ok is false otherwise, and where
// json.Marshal would fail.
func appendAnswer(b []byte, v any) (_ []byte, ok bool) {
	switch t := v.(type) {
	case PredictResponse:
		return appendPredictResponse(b, t)
	case ColumnarResponse:
		return appendColumnarResponse(b, t)
	}
	return b, false
}

func appendPredictResponse(b []byte, r PredictResponse) ([]byte, bool) {
	if r.Predictions == nil {
		return b, false
	}
	b = append(b, `{"predictions":[`...)
	for i, p := range r.Predictions {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"class":`...)
		b = strconv.AppendInt(b, int64(p.Class), 10)
		b = append(b, `,"label":`...)
		b = appendString(b, p.Label)
		var ok bool
		b = append(b, `,"probability":`...)
		if b, ok = appendFloat32(b, p.Probability); !ok {
			return b, false
		}
		b = append(b, `,"probabilities":`...)
		if b, ok = appendFloat32s(b, p.Probabilities); !ok {
			return b, false
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), true
}

func appendColumnarResponse(b []byte, r ColumnarResponse) ([]byte, bool) {
	o := r.Outputs
	if o.Class == nil || o.Label == nil || o.Probability == nil || o.Probabilities == nil {
		return b, false
	}
	b = append(b, `{"outputs":{"class":[`...)
	for i, c := range o.Class {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(c), 10)
	}
	b = append(b, `],"label":[`...)
	for i, l := range o.Label {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, l)
	}
	var ok bool
	b = append(b, `],"probability":`...)
	if b, ok = appendFloat32s(b, o.Probability); !ok {
		return b, false
	}
	b = append(b, `,"probabilities":[`...)
	for i, ps := range o.Probabilities {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = appendFloat32s(b, ps); !ok {
			return b, false
		}
	}
	return append(b, "]}}"...), true
}

// appendFloat32s writes xs as a list; nil is null, as json.Marshal
// writes a nil slice.
func appendFloat32s(b []byte, xs []float32) ([]byte, bool) {
	if xs == nil {
		return append(b, "null"...), true
	}
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendFloat32(b, x); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// appendFloat32 writes f as encoding/json writes a float32 (its
// floatEncoder): the shortest decimal, in exponent form below 1e-6 and
// from 1e21 on, without a leading zero in a negative exponent; NaN and
// infinities are not JSON.
func appendFloat32(b []byte, x float32) ([]byte, bool) {
	f := float64(x)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 32)
	if format == 'e' {
		// e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendString writes s as a JSON string, as json.Marshal does: printable
// ASCII other than what it escapes ('"', '\\', and '<', '>', '&' for
// HTML) goes as it is; a string with anything else goes through
// json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // cannot happen: a Go string always encodes
				return append(b, `""`...)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
