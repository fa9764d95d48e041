package avg

import (
	"context"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// countingStream counts bytes both ways, for ExchangeStats and Totals.
type countingStream struct {
	network.Stream
	sent, recv int64
}

func (c *countingStream) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	c.recv += int64(n)
	return n, err
}

func (c *countingStream) Write(p []byte) (int, error) {
	n, err := c.Stream.Write(p)
	c.sent += int64(n)
	return n, err
}

// open starts a stream to p bound to ctx: the stream is reset when ctx ends,
// and carries ctx's deadline.
func (a *Averager) open(ctx context.Context, p peer.ID) (*countingStream, func(), error) {
	s, err := a.svc.h.NewStream(ctx, p, a.svc.proto)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, p, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	return &countingStream{Stream: s}, func() { stop(); _ = s.Close() }, nil
}

// refuse tells the other end why this one gives up. The write error is
// ignored: the stream is abandoned either way, and the refusal is only a
// courtesy that saves the other end a timeout. The message is clipped to
// the header's limit by marshal.
func refuse(w io.Writer, st status, msg string) {
	_ = writeHeader(w, &header{Kind: kindRefuse, Status: st, Msg: msg})
}
