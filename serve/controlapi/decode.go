package controlapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Size limits for what the client accepts from a server. A node answers with
// far less (a peer is well under 4 KiB); the limits only stop a broken or
// hostile server from exhausting the client's memory.
const (
	MaxResponseBytes = 8 << 20 // one JSON answer (self, peers)
	MaxEventBytes    = 1 << 20 // one server-sent event frame
)

// ErrTooLarge is wrapped by decoding errors caused by a size limit.
var ErrTooLarge = errors.New("too large")

// DecodeJSON reads one JSON value of at most limit bytes from r into v.
// Unknown object fields are ignored, so a client keeps working against a
// newer server that adds fields. Errors name the problem (empty, too large,
// syntax error at an offset, wrong type of a field, trailing data).
func DecodeJSON(r io.Reader, limit int64, v any) error {
	return decodeJSON(r, limit, v, false)
}

// DecodeJSONStrict is DecodeJSON that also rejects unknown object fields;
// servers use it on request bodies so a misspelt field is an error, not a
// silently ignored option.
func DecodeJSONStrict(r io.Reader, limit int64, v any) error {
	return decodeJSON(r, limit, v, true)
}

func decodeJSON(r io.Reader, limit int64, v any, strict bool) error {
	if limit <= 0 {
		return fmt.Errorf("decode JSON: limit %d must be positive", limit)
	}
	// Read limit+1 bytes so "exactly at the limit" and "over it" differ.
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		// http.MaxBytesReader (on the server) reports its own limit.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("JSON body is %w (limit %d bytes)", ErrTooLarge, limit)
		}
		return fmt.Errorf("read JSON: %w", err)
	}
	if int64(len(data)) > limit {
		return fmt.Errorf("JSON body is %w (limit %d bytes)", ErrTooLarge, limit)
	}
	return decodeJSONBytes(data, v, strict)
}

func decodeJSONBytes(data []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("malformed JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			if te.Field != "" {
				return fmt.Errorf("JSON field %q: got %s, want %s", te.Field, te.Value, te.Type)
			}
			return fmt.Errorf("JSON value: got %s, want %s", te.Value, te.Type)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("malformed JSON: truncated")
		default:
			return fmt.Errorf("malformed JSON: %v", err)
		}
	}
	// One value per body: anything after it is a client bug worth reporting.
	if dec.More() {
		return errors.New("malformed JSON: trailing data after the value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: trailing data after the value")
	}
	return nil
}
