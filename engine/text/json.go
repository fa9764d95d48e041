package text

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// decodeStrict decodes exactly one JSON value from b into v, rejecting
// unknown fields and anything but white space after the value. what names
// the document in errors ("vocabulary JSON"). It exists because
// json.Decoder.More alone lets a stray '}' or ']' after the value through.
func decodeStrict(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("text: %s: %w", what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("text: %s: trailing data after the JSON value", what)
	}
	return nil
}
