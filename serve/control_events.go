package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// errSlowClient ends an event stream whose client fell too far behind.
var errSlowClient = errors.New("event client too slow")

// validEventType keeps event types safe to put on an SSE "event:" line.
var validEventType = regexp.MustCompile(`^[a-z0-9_.-]{1,64}$`)

func (h *ControlHandler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The hub drains the node at the node's pace, whatever this client
	// does; a client that lets eventBuffer events pile up is cut off
	// (client.slow) rather than allowed to hold the others back.
	client, replay, reset := h.hub.subscribe(r.Header.Get("Last-Event-ID"))
	defer h.hub.unsubscribe(client)

	ctx, stop := context.WithCancelCause(r.Context())
	defer stop(nil)
	go func() {
		select {
		case <-client.slow:
			stop(errSlowClient)
		case <-ctx.Done():
		}
	}()

	// A write blocked on a client that stopped reading does not see ctx;
	// a deadline in the past interrupts it at once when the stream must end
	// (client dropped as too slow, server shutting down).
	out := &sseWriter{ctx: ctx, w: w, rc: rc}
	stopWrites := context.AfterFunc(ctx, out.interrupt)
	defer stopWrites()

	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// An opening comment gets the headers to the client now, so Events()
	// returns as soon as the subscription exists.
	if err := out.write(": shoal events\n\n"); err != nil {
		return
	}
	if reset {
		// The reset carries the id of the newest event, so a client that
		// reconnects again resumes from here.
		h.hub.mu.Lock()
		last := h.hub.id(h.hub.seq)
		h.hub.mu.Unlock()
		frame, _ := encodeEvent(last, controlapi.Event{Type: controlapi.EventStreamReset, Time: time.Now()})
		if err := out.write(frame); err != nil {
			return
		}
	}
	send := func(s stamped) bool {
		frame, err := encodeEvent(h.hub.id(s.seq), s.ev)
		if err != nil {
			h.log.Warn("control API: skipping event", "type", s.ev.Type, "err", err)
			return true
		}
		return out.write(frame) == nil
	}
	for _, s := range replay {
		if !send(s) {
			return
		}
	}

	tick := time.NewTicker(h.heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); errors.Is(cause, errSlowClient) {
				h.log.Warn("control API: dropping slow event client", "remote", r.RemoteAddr)
			}
			return
		case s, ok := <-client.ch:
			if !ok {
				return // the node closed the subscription (shutting down)
			}
			if !send(s) {
				return
			}
		case <-tick.C:
			if err := out.write(": ping\n\n"); err != nil {
				return
			}
		}
	}
}

// sseWriter writes frames of one event stream. Its lock orders the
// per-write deadline against interrupt, so an interrupt is never undone by a
// write that starts just after it.
type sseWriter struct {
	ctx context.Context
	w   http.ResponseWriter
	rc  *http.ResponseController
	mu  sync.Mutex
}

func (s *sseWriter) write(frame string) error {
	s.mu.Lock()
	if err := s.ctx.Err(); err != nil {
		s.mu.Unlock()
		return err
	}
	// Not every ResponseWriter supports deadlines (httptest.ResponseRecorder
	// does not); the heartbeat and the request context still end the stream.
	_ = s.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	s.mu.Unlock()
	if _, err := io.WriteString(s.w, frame); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.rc.SetWriteDeadline(time.Now())
}

// encodeEvent renders one SSE frame: "id: ID\nevent: TYPE\ndata: JSON\n\n"
// (no id line when id is empty). encoding/json escapes newlines, so the
// data is always one line; ids are the hub's, which hold no newline.
func encodeEvent(id string, ev controlapi.Event) (string, error) {
	if !validEventType.MatchString(ev.Type) {
		return "", fmt.Errorf("invalid event type %q", ev.Type)
	}
	if ev.Peer != nil {
		p := cleanPeer(*ev.Peer)
		ev.Peer = &p
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	frame := "event: " + ev.Type + "\ndata: " + string(data) + "\n\n"
	if id != "" {
		frame = "id: " + id + "\n" + frame
	}
	// Clients refuse frames over MaxEventBytes and end the stream; better
	// to skip one event here than to break every client's stream.
	if len(frame) > controlapi.MaxEventBytes {
		return "", fmt.Errorf("event frame of %d bytes exceeds the %d-byte limit", len(frame), controlapi.MaxEventBytes)
	}
	return frame, nil
}
