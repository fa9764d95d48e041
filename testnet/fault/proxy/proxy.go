// Package proxy is a small TCP fault proxy for tests: it sits in front of
// a listener and adds latency with jitter, caps bandwidth and can cut every
// link at once, changing any of these while connections are open.
//
// Why not toxiproxy. github.com/Shopify/toxiproxy/v2 v2.5.0 is on the module
// proxy and does all of this (and more: timeouts, slicers, resets), but it
// does not fit here, checked against its v2.5.0 source and go.mod:
//   - its Proxy makes its own sockets: net.Listen on a configured address
//     and net.Dial of the upstream for every accepted connection, both in
//     the goroutine that `go proxy.server()` starts (proxy.go). A socket
//     belongs to the network namespace of the thread that makes it, so
//     neither can be made inside a peer's namespace (see package netns),
//     which the harness needs: the proxy listens on the peer's veth
//     address and dials the peer on its namespace's loopback;
//   - as a library its unit is a server with an HTTP API (gorilla/mux),
//     zerolog logging and Prometheus metrics; its go.mod brings 21 modules,
//     and go.mod is not this package's to change;
//   - four knobs are needed (latency, jitter, rate, cut), changed while
//     connections are open.
//
// This package takes a net.Listener and a dial function, so the caller
// decides where sockets live. It is under 400 lines with no dependency; its
// tests measure the latency it adds, that bytes keep their order under
// jitter, the bandwidth cap and the cut.
//
// Semantics. Each direction of each connection is a pipe: a reader takes
// what arrives (up to 16 KiB at a time) and stamps it due at arrival +
// Latency + a uniform draw in [-Jitter, +Jitter]; a writer sends it when
// due. A TCP stream cannot reorder bytes, so a due time is never earlier
// than the one before it (as netem does for a rate-limited queue): jitter
// shows as variable delay, never as reordering. Rate (bytes per second per
// direction, shared by every connection of the proxy) is a token bucket in
// front of each write. An end of stream is delayed like data and passed on
// as a half close. Cut closes every open connection with a reset and
// refuses new ones (accepted and reset at once) until Restore.
//
// Where a proxy sits. To add latency between peers, put one in front of
// each peer's listener and make the peer announce the proxy's address
// (shoal up --announce): a connection from A to B then passes only B's
// proxy, so each direction of a link gets Latency once and a round trip
// 2×Latency, as a netem delay on every peer's interface would give.
//
// Concurrency: a Proxy's methods are safe for concurrent use; SetFaults,
// Cut and Restore take effect for data read after they return.
package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are what a proxy does to the bytes passing it. The zero value
// passes them untouched.
type Faults struct {
	// Latency is added to each direction; Jitter spreads it uniformly over
	// [Latency-Jitter, Latency+Jitter] (never below zero, never reordering).
	Latency, Jitter time.Duration
	// Rate caps each direction at this many bytes per second across all
	// connections of the proxy; 0 is no cap.
	Rate int64
}

// DialFunc opens the upstream connection for one accepted connection.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Stats counts what a proxy did since it started.
type Stats struct {
	Accepted, Refused int64 // connections passed on, and reset while cut or when the dial failed
	Up, Down          int64 // bytes client→upstream and upstream→client
}

// Proxy forwards every connection accepted on a listener to an upstream.
type Proxy struct {
	ln   net.Listener
	dial DialFunc

	mu     sync.Mutex
	faults Faults
	cut    bool
	closed bool
	links  map[*link]struct{}
	rng    *rand.Rand
	up     bucket
	down   bucket

	accepted, refused, bytesUp, bytesDown atomic.Int64
	wg                                    sync.WaitGroup
}

// New starts a proxy that accepts on ln and dials upstream with dial. It
// owns ln: Close closes it.
func New(ln net.Listener, dial DialFunc) *Proxy {
	p := &Proxy{ln: ln, dial: dial, links: map[*link]struct{}{}, rng: rand.New(rand.NewPCG(rand.Uint64(), 1))}
	p.wg.Add(1)
	go p.serve()
	return p
}

// Forward is New with a plain TCP listener on listen and dialer to upstream,
// both in the caller's network namespace.
func Forward(listen, upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	return New(ln, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", upstream)
	}), nil
}

// Addr is the address the proxy accepts on.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// SetFaults replaces the faults; open connections get them for the data
// they read from now on.
func (p *Proxy) SetFaults(f Faults) {
	p.mu.Lock()
	p.faults = f
	p.up.setRate(f.Rate)
	p.down.setRate(f.Rate)
	p.mu.Unlock()
}

// Faults returns the current faults.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

// Cut resets every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
}

// Restore lets connections through again after Cut.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Refused: p.refused.Load(), Up: p.bytesUp.Load(), Down: p.bytesDown.Load()}
}

// Close stops accepting, resets every open connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		p.mu.Lock()
		refuse := p.cut || p.closed
		p.mu.Unlock()
		if refuse {
			p.refused.Add(1)
			resetConn(c)
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	upstream, err := p.dial(ctx)
	cancel()
	if err != nil {
		p.refused.Add(1)
		resetConn(client)
		return
	}
	l := &link{client: client, upstream: upstream}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		p.refused.Add(1)
		l.reset()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.accepted.Add(1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, client, upstream, &p.up, &p.bytesUp) }()
	go func() { defer wg.Done(); p.pipe(l, upstream, client, &p.down, &p.bytesDown) }()
	wg.Wait()
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// link is one proxied connection.
type link struct {
	client, upstream net.Conn
	once             sync.Once
}

func (l *link) reset() {
	l.once.Do(func() {
		resetConn(l.client)
		resetConn(l.upstream)
	})
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.upstream.Close()
	})
}

// resetConn closes c with an RST where it is TCP, as a cut link or a
// crashed peer would look to the other end.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// chunk is what a reader hands its writer: data (or, with eof, the end of
// the stream) due at a time.
type chunk struct {
	b   []byte
	due time.Time
	eof bool
}

const (
	chunkSize = 16 << 10
	// queueLen bounds what is in flight inside one direction (queueLen ×
	// chunkSize): a slow writer stops the reader, so TCP's own flow
	// control pushes back on the sender.
	queueLen = 128
)

// delay draws the delay for data arriving now.
func (p *Proxy) delay() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.faults.Latency
	if j := p.faults.Jitter; j > 0 {
		d += time.Duration(p.rng.Int64N(int64(2*j)+1)) - j
	}
	return max(d, 0)
}

// pipe copies src to dst with the faults; it returns when src ends (after
// passing the end on) or either side fails.
func (p *Proxy) pipe(l *link, src, dst net.Conn, bk *bucket, count *atomic.Int64) {
	q := make(chan chunk, queueLen)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if wait := time.Until(c.due); wait > 0 {
				time.Sleep(wait)
			}
			if c.eof {
				if tc, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = tc.CloseWrite()
				} else {
					dst.Close()
				}
				return
			}
			bk.take(len(c.b))
			count.Add(int64(len(c.b)))
			if _, err := dst.Write(c.b); err != nil {
				l.reset()
				for range q { // let the reader finish
				}
				return
			}
		}
	}()
	var last time.Time
	for {
		b := make([]byte, chunkSize)
		n, err := src.Read(b)
		due := time.Now().Add(p.delay())
		if due.Before(last) {
			due = last
		}
		last = due
		if n > 0 {
			q <- chunk{b: b[:n], due: due}
		}
		if err != nil {
			if err == io.EOF {
				q <- chunk{due: due, eof: true}
			} else {
				l.reset()
			}
			close(q)
			<-done
			return
		}
	}
}

// bucket is a token bucket of bytes per second; a zero rate lets all pass.
type bucket struct {
	mu     sync.Mutex
	rate   int64
	tokens float64
	last   time.Time
}

func (b *bucket) setRate(r int64) {
	b.mu.Lock()
	b.rate, b.tokens, b.last = r, 0, time.Now()
	b.mu.Unlock()
}

// take waits until n bytes may pass. The burst is a tenth of a second's
// worth (at least one chunk), so a cap shows within a short test.
func (b *bucket) take(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate <= 0 {
		return
	}
	now := time.Now()
	burst := max(float64(b.rate)/10, chunkSize)
	b.tokens = min(b.tokens+now.Sub(b.last).Seconds()*float64(b.rate), burst)
	b.last = now
	b.tokens -= float64(n)
	if b.tokens < 0 {
		// Sleeping under the lock queues the other connections behind this
		// one, which is what a shared link does.
		time.Sleep(time.Duration(-b.tokens / float64(b.rate) * float64(time.Second)))
	}
}
