package controlapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/shoalmesh/shoal/engine/jsonx"
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
	if strict {
		return jsonx.DecodeStrict(data, v)
	}
	return jsonx.Decode(data, v)
}
