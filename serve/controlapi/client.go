package controlapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"
)

// ErrUnauthorized is returned when the node rejects the API token.
var ErrUnauthorized = errors.New("unauthorized: wrong or missing API token")

// ErrNoNode is wrapped by errors for a node that cannot be reached at all.
var ErrNoNode = errors.New("no shoal node answering")

// NoNodeError reports that nothing answered at Addr. It matches ErrNoNode
// with errors.Is and unwraps to the dial error too.
type NoNodeError struct {
	Addr string
	Err  error
}

func (e *NoNodeError) Error() string {
	return fmt.Sprintf("no shoal node answering on %s (is `shoal up` running?)", e.Addr)
}

// Unwrap returns ErrNoNode and the underlying dial error.
func (e *NoNodeError) Unwrap() []error { return []error{ErrNoNode, e.Err} }

// APIError is an error answer from the node other than 401.
type APIError struct {
	Status  int    // HTTP status code
	Message string // the "error" field of the body, or the status text
}

func (e *APIError) Error() string {
	return fmt.Sprintf("shoal node: %s (HTTP %d)", e.Message, e.Status)
}

// Client talks to one node's control API. It is safe for concurrent use.
type Client struct {
	addr  string // as given, for messages
	base  string // scheme://host:port
	token string
	hc    *http.Client
}

// requestTimeout bounds Self and Peers when ctx has no deadline of its own;
// a local node answers in milliseconds. Events streams have no timeout.
const requestTimeout = 15 * time.Second

// New returns a client for the node at addr ("127.0.0.1:7070", or a URL such
// as "http://127.0.0.1:7070") using the given bearer token.
func New(addr, token string) *Client {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	tr := &http.Transport{
		// Never through a proxy: the request carries the bearer token.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
	}
	return &Client{addr: addr, base: base, token: token, hc: &http.Client{Transport: tr}}
}

// NewFromDataDir returns a client for the node at addr using the token that
// node wrote to dataDir (see TokenFileName).
func NewFromDataDir(addr, dataDir string) (*Client, error) {
	tok, err := ReadTokenFile(TokenPath(dataDir))
	if err != nil {
		return nil, err
	}
	return New(addr, tok), nil
}

// Addr returns the address the client was created with.
func (c *Client) Addr() string { return c.addr }

// Self returns the node's own description.
func (c *Client) Self(ctx context.Context) (Peer, error) {
	var p Peer
	err := c.getJSON(ctx, PathSelf, &p)
	return p, err
}

// Peers returns the peers the node knows, in the node's order.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var r PeersResponse
	if err := c.getJSON(ctx, PathPeers, &r); err != nil {
		return nil, err
	}
	return r.Peers, nil
}

// Events opens the event stream and delivers events on the returned channel
// until ctx is done, the node closes the stream, or a frame is malformed; then
// the channel is closed. Use StreamEvents to learn why a stream ended.
// The channel is unbuffered: the reader sets the pace, and an abandoned
// reader must cancel ctx to free the connection.
func (c *Client) Events(ctx context.Context) (<-chan Event, error) {
	return c.EventsSince(ctx, "")
}

// EventsSince is Events resumed after the event with id lastID (Event.ID;
// "" starts from now): the node first replays what the client missed from
// a bounded ring of recent events. When it cannot (lastID too old, or from
// before the node restarted) the first event is EventStreamReset, and the
// client should read the node's state again.
func (c *Client) EventsSince(ctx context.Context, lastID string) (<-chan Event, error) {
	body, err := c.openEvents(ctx, lastID)
	if err != nil {
		return nil, err
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		_ = readEvents(ctx, body, func(ev Event) error {
			select {
			case ch <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return ch, nil
}

// StreamEvents opens the event stream and calls fn for each event, in order,
// until ctx is done (returns ctx's error), fn returns an error (returned), the
// node ends the stream (io.EOF) or a frame is malformed (that error).
func (c *Client) StreamEvents(ctx context.Context, fn func(Event) error) error {
	body, err := c.openEvents(ctx, "")
	if err != nil {
		return err
	}
	return readEvents(ctx, body, fn)
}

func (c *Client) openEvents(ctx context.Context, lastID string) (io.ReadCloser, error) {
	var hdr http.Header
	if lastID != "" {
		hdr = http.Header{"Last-Event-Id": {lastID}}
	}
	resp, err := c.doHeader(ctx, http.MethodGet, PathEvents, "text/event-stream", nil, hdr)
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("shoal node at %s: event stream has content type %q, want text/event-stream", c.addr, ct)
	}
	return resp.Body, nil
}

func readEvents(ctx context.Context, body io.ReadCloser, fn func(Event) error) error {
	// Closing the body is what unblocks a Read when ctx ends; the transport
	// also does it, but only once the request's context is noticed.
	stop := context.AfterFunc(ctx, func() { body.Close() })
	defer stop()
	defer body.Close()
	dec := NewEventDecoder(body, MaxEventBytes)
	for {
		ev, err := dec.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	resp, err := c.do(ctx, http.MethodGet, path, "application/json", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := DecodeJSON(resp.Body, MaxResponseBytes, v); err != nil {
		return fmt.Errorf("shoal node at %s: GET %s: %w", c.addr, path, err)
	}
	return nil
}

// do sends a request (a GET when body is nil, else one with a JSON body)
// and returns a 2xx response; any other outcome is an error (NoNodeError,
// ErrUnauthorized, *APIError, or ctx's error).
func (c *Client) do(ctx context.Context, method, path, accept string, body []byte) (*http.Response, error) {
	return c.doHeader(ctx, method, path, accept, body, nil)
}

// doHeader is do with extra request headers.
func (c *Client) doHeader(ctx context.Context, method, path, accept string, body []byte, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("control API address %q: %w", c.addr, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, &NoNodeError{Addr: c.addr, Err: err}
		}
		return nil, fmt.Errorf("shoal node at %s: %w", c.addr, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, ErrUnauthorized
	}
	msg := http.StatusText(resp.StatusCode)
	var er ErrorResponse
	if DecodeJSON(resp.Body, 64<<10, &er) == nil && er.Error != "" {
		msg = er.Error
	}
	return nil, &APIError{Status: resp.StatusCode, Message: msg}
}
