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
	// EventsSince delivers events after lastID ("" from now) until ctx
	// ends or the stream breaks, then closes the channel.
	EventsSince(ctx context.Context, lastID string) (<-chan controlapi.Event, error)
	JobHistory(ctx context.Context, id string) ([]controlapi.JobPoint, error)
	SubmitJob(ctx context.Context, spec controlapi.JobSpec) (controlapi.JobSpec, error)
	CancelJob(ctx context.Context, id string) (controlapi.CancelResponse, error)
	// AcceptJob and DeclineJob answer a job held for this node's
	// operator (shoal up --jobs ask).
	AcceptJob(ctx context.Context, id string) (controlapi.AnswerResponse, error)
	DeclineJob(ctx context.Context, id string) (controlapi.AnswerResponse, error)
	DenyPeer(ctx context.Context, id string) error
	Models(ctx context.Context) ([]controlapi.Model, error)
	SetModelLabel(ctx context.Context, name, label string, version int) error
	RemoveModel(ctx context.Context, name string, version int) error
	SetModelServing(ctx context.Context, name string, serving bool) error
	QuantizeModel(ctx context.Context, name string) (controlapi.QuantizeResponse, error)
	PullModel(ctx context.Context, name string, req controlapi.PullRequest) (controlapi.PullResponse, error)
	PredictModel(ctx context.Context, name string, req controlapi.PredictRequest) (controlapi.PredictResponse, error)
	Logs(ctx context.Context, q controlapi.LogQuery) ([]controlapi.LogLine, error)
}

var _ Node = (*controlapi.Client)(nil)

// Options tune a Model. The zero value is usable.
type Options struct {
	// Addr names the node in the reconnect banner ("127.0.0.1:7070").
	Addr string
	// MeshID is shown in the header when the node does not report one
	// (older nodes); empty shows "-".
	MeshID string
	// Images is an MNIST-style IDX image file (t10k-images-idx3-ubyte,
	// optionally .gz) whose first images the Query screen offers as inputs
	// for image models; its labels file beside it, when there, gives each
	// image's true label. Empty: no picker.
	Images string
	// QuitStopsNode says the node ends with the console (`shoal up` on a
	// terminal), which the quit question then says.
	QuitStopsNode bool
	// QuitNote, when set, is what the quit question says happens instead
	// (the demo: every node stops).
	QuitNote string
	// Start is the screen the console opens on: "peers" (default), "jobs",
	// "models", "query" or "log".
	Start string
	// QueryModel, when set, moves the console to the Query screen with
	// that model picked the first time the model can be queried (the
	// demo: watch the job on Jobs, then query what it trained).
	QueryModel string
	// LogPoll is how often the Log screen reads new log lines while shown
	// (default 1s); the log has no event of its own.
	LogPoll time.Duration
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
	if o.LogPoll <= 0 {
		o.LogPoll = time.Second
	}
	return o
}
