package tui

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// Node is what the console needs from a running node. *controlapi.Client
// satisfies it; tests use a fake.
type Node interface {
	Self(ctx context.Context) (controlapi.Peer, error)
	Peers(ctx context.Context) ([]controlapi.Peer, error)
	Jobs(ctx context.Context) ([]controlapi.Job, error)
	// Events delivers events until ctx ends or the stream breaks, then
	// closes the channel.
	Events(ctx context.Context) (<-chan controlapi.Event, error)
}

var _ Node = (*controlapi.Client)(nil)

// Options tune a Model. The zero value is usable.
type Options struct {
	// Addr names the node in the reconnect banner ("127.0.0.1:7070").
	Addr string
	// MeshID is shown in the header when known (the control API does not
	// report it yet); empty shows "-".
	MeshID string
	// Now is the clock for "last seen" columns (time.Now when nil).
	Now func() time.Time
	// Refresh is how often relative times are redrawn; 0 never.
	Refresh time.Duration
	// Poll is how often peers and jobs are read again while connected, for
	// what no event reports yet (RTT, load, last seen); 0 never.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnect attempts
	// (defaults 500ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives diagnostics; it must not write to the terminal the
	// console owns (nil discards).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
