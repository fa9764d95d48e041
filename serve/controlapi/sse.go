package controlapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/shoalmesh/shoal/engine/jsonx"
)

// EventDecoder reads server-sent events (text/event-stream) carrying Event
// JSON payloads. It understands the parts of the SSE format the server uses
// and what proxies may add: "event:" and "data:" fields (several data lines
// are joined with "\n"), comment lines starting with ':' (heartbeats), and
// any of "\n", "\r\n", "\r" as line ends. "id:" sets Event.ID (ids of at
// most maxEventID bytes; a longer one is an error); "retry:" is ignored.
//
// A frame (all lines up to a blank line) may hold at most limit bytes; a
// longer one is an error wrapping ErrTooLarge, so a hostile server cannot make
// the client buffer without bound.
type EventDecoder struct {
	sc    *bufio.Scanner
	limit int
}

// NewEventDecoder returns a decoder reading from r with frames of at most
// limit bytes (MaxEventBytes when limit <= 0).
func NewEventDecoder(r io.Reader, limit int) *EventDecoder {
	if limit <= 0 {
		limit = MaxEventBytes
	}
	sc := bufio.NewScanner(r)
	// The scanner's own cap bounds one line; +2 leaves room for "\r\n".
	sc.Buffer(make([]byte, 0, 4096), limit+2)
	sc.Split(scanSSELines)
	return &EventDecoder{sc: sc, limit: limit}
}

// Next returns the next event with a data payload, skipping comments and
// frames without data. It returns io.EOF at a clean end of stream (a partial
// frame at the end is discarded, as the SSE spec says).
func (d *EventDecoder) Next() (Event, error) {
	for {
		typ, id, data, err := d.nextFrame()
		if err != nil {
			return Event{}, err
		}
		if data == nil {
			continue // heartbeat or a frame with no data
		}
		var ev Event
		if err := jsonx.Decode(data, &ev); err != nil {
			return Event{}, fmt.Errorf("event %q: %w", typ, err)
		}
		if ev.Type == "" {
			ev.Type = typ
		}
		ev.ID = id
		if ev.Type == "" {
			return Event{}, errors.New("event without a type")
		}
		return ev, nil
	}
}

// maxEventID bounds an "id:" value: the server's ids are a few dozen bytes.
const maxEventID = 128

// nextFrame returns the "event:" and "id:" values and the joined data
// lines of one frame; data is nil when the frame had no data line.
func (d *EventDecoder) nextFrame() (typ, id string, data []byte, err error) {
	size := 0
	for d.sc.Scan() {
		line := d.sc.Bytes()
		if len(line) == 0 {
			if data != nil || typ != "" {
				return typ, id, data, nil
			}
			size = 0
			continue
		}
		size += len(line) + 1
		if size > d.limit {
			return "", "", nil, fmt.Errorf("event frame is %w (limit %d bytes)", ErrTooLarge, d.limit)
		}
		if line[0] == ':' {
			continue // comment: heartbeat
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "event":
			typ = strings.ToValidUTF8(string(value), "\uFFFD")
		case "id":
			if len(value) > maxEventID {
				return "", "", nil, fmt.Errorf("event id is %w (limit %d bytes)", ErrTooLarge, maxEventID)
			}
			id = strings.ToValidUTF8(string(value), "\uFFFD")
		case "data":
			if data != nil {
				data = append(data, '\n')
			} else {
				data = make([]byte, 0, len(value))
			}
			data = append(data, value...)
		}
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return "", "", nil, fmt.Errorf("event line is %w (limit %d bytes)", ErrTooLarge, d.limit)
		}
		return "", "", nil, err
	}
	return "", "", nil, io.EOF
}

// scanSSELines splits on "\r\n", "\n" or a lone "\r".
func scanSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		if data[i] == '\n' {
			return i + 1, data[:i], nil
		}
		// '\r': it may be the first half of "\r\n" that is not read yet.
		if i+1 < len(data) {
			if data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
		if atEOF {
			return i + 1, data[:i], nil
		}
		return 0, nil, nil // need one more byte
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
