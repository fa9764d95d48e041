// Package jsonx decodes exactly one JSON value from a byte slice, with error
// messages a person can act on. Every decoder of specs, messages, metadata
// and HTTP bodies in shoal goes through it, so they all reject the same
// things: nothing but white space may follow the value (json.Decoder.More
// alone lets a stray '}' or ']' through), and in strict mode no unknown
// field is accepted. Size limits stay with the callers, who know them.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeStrict decodes the single JSON value in b into v, rejecting unknown
// object fields and trailing data.
func DecodeStrict(b []byte, v any) error { return decode(b, v, true) }

// Decode is DecodeStrict that ignores unknown fields, for documents whose
// writers may be newer than the reader.
func Decode(b []byte, v any) error { return decode(b, v, false) }

func decode(b []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("empty JSON document")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
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
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: trailing data after the value")
	}
	return nil
}
