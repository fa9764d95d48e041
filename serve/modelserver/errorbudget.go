package modelserver

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Defaults of the per-client error budget, with their reasons.
const (
	// DefaultErrorRate is the error answers per second a client may get
	// at once, on average: a client with a bug in its request builder
	// sees its first errors at full speed, one that keeps at it does not.
	DefaultErrorRate = 10
	// DefaultErrorBurst is the error answers a client may get at once
	// before its rate counts: a batch of retries, a script probing the
	// API by hand.
	DefaultErrorBurst = 10
	// DefaultSlowBodyRate is how fast the body of a request is read, in
	// bytes per second, while its client is over its error budget, past
	// its first slowBodyFree bytes. Reading a body is the one cost of a
	// malformed request that grows with what the client sends (a 16 MiB
	// body streamed without a length, read whole before it can be judged,
	// takes tens of milliseconds of both cores), so a client that keeps
	// failing is read at the pace of a slow link instead.
	DefaultSlowBodyRate = 1 << 20
	// slowBodyFree is what an over-budget client's body may hold before it
	// is read slowly: any ordinary query fits.
	slowBodyFree = 64 << 10
	// DefaultMaxPenalty bounds how long one error answer is held back. A
	// second is long next to a malformed request's cost (tens of
	// microseconds) and short next to the shutdown grace (5 s).
	DefaultMaxPenalty = time.Second
	// DefaultMaxHeld bounds the error answers held back at once, over
	// every client: each holds a goroutine and a connection. Past it an
	// error is answered at once and its connection closed.
	DefaultMaxHeld = 256
	// maxTrackedClients bounds the clients the budget remembers. Those
	// whose budget is full again carry nothing and go first; past the
	// bound, clients not yet known share one budget.
	maxTrackedClients = 4096
)

// ErrorBudget is what Config.ErrorBudget sets; zero fields take the
// defaults above.
type ErrorBudget struct {
	// Rate is the error answers per second a client may get without
	// waiting; negative turns the budget off.
	Rate float64
	// Burst is the error answers a client may get at once.
	Burst int
	// MaxPenalty bounds how long one error answer waits.
	MaxPenalty time.Duration
	// MaxHeld bounds the error answers waiting at once.
	MaxHeld int
	// SlowBodyRate is how fast an over-budget client's bodies are read,
	// in bytes per second.
	SlowBodyRate int
}

// errorBudget slows down the error answers of a client that keeps
// getting them. A client is its remote address (an IPv6 client its /64,
// which one machine usually holds whole). Each error answer it gets (a
// 4xx other than 429: malformed JSON, wrong types, unknown models, bodies
// over the limit, a wrong token) takes a token from its bucket; once the
// bucket is empty the answer waits until the bucket would have refilled,
// up to maxPenalty, before it is written; and while its bucket is empty
// the bodies it sends are read, past their first slowBodyFree bytes, at
// slowBodyRate bytes a second over all its requests.
//
// Why: a malformed request costs the server little, but a client sending
// them in a loop, answered as soon as it asks, takes a share of the cores
// as large as any honest client's, and on a small machine the honest
// clients' latency pays for it (testnet/fault TestSoakServe measured 7×
// at p99). Held back, the looping client asks only as fast as its budget
// refills, and a goroutine asleep costs nothing. The well-formed requests
// of the same client are never held: only its errors are, so an honest
// program sharing an address (every local client is 127.0.0.1) with a
// broken one is not slowed. This is what Postfix does to SMTP clients
// that keep making errors (smtpd_error_sleep_time,
// smtpd_soft_error_limit).
type errorBudget struct {
	rate       rate.Limit
	burst      int
	maxPenalty time.Duration
	slowRate   int
	held       chan struct{}
	// now and sleep are the clock and the wait, replaced by tests.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	// observe, when set, counts the held ("held") and the closed
	// ("closed") answers.
	observe *prometheus.CounterVec

	mu       sync.Mutex
	clients  map[netip.Prefix]*client
	overflow *client
}

// client is what the budget knows of one client.
type client struct {
	errors *rate.Limiter // error answers
	bytes  *rate.Limiter // body bytes read while over budget
}

// newErrorBudget returns nil when cfg turns the budget off.
func newErrorBudget(cfg ErrorBudget) *errorBudget {
	if cfg.Rate < 0 {
		return nil
	}
	b := &errorBudget{rate: rate.Limit(cfg.Rate), burst: cfg.Burst, maxPenalty: cfg.MaxPenalty, slowRate: cfg.SlowBodyRate,
		now: time.Now, sleep: sleepCtx, clients: map[netip.Prefix]*client{}}
	if b.rate == 0 {
		b.rate = DefaultErrorRate
	}
	if b.burst <= 0 {
		b.burst = DefaultErrorBurst
	}
	if b.maxPenalty <= 0 {
		b.maxPenalty = DefaultMaxPenalty
	}
	if b.slowRate <= 0 {
		b.slowRate = DefaultSlowBodyRate
	}
	held := cfg.MaxHeld
	if held <= 0 {
		held = DefaultMaxHeld
	}
	b.held = make(chan struct{}, held)
	b.overflow = b.newClient()
	return b
}

func (b *errorBudget) newClient() *client {
	// The byte bucket holds one read's worth: slowBody asks for at most
	// that much at a time.
	return &client{errors: rate.NewLimiter(b.rate, b.burst), bytes: rate.NewLimiter(rate.Limit(b.slowRate), slowBodyChunk)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clientOf names the client of a request: its IPv4 address, or the /64
// of its IPv6 one. ok is false where RemoteAddr is not an address (a
// test's or a Unix socket's).
func clientOf(remoteAddr string) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}, false
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// client is what the budget knows of c.
func (b *errorBudget) client(c netip.Prefix) *client {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cl, ok := b.clients[c]; ok {
		return cl
	}
	if len(b.clients) >= maxTrackedClients {
		now := b.now()
		for k, cl := range b.clients {
			if cl.errors.TokensAt(now) >= float64(b.burst) {
				delete(b.clients, k)
			}
		}
		if len(b.clients) >= maxTrackedClients {
			return b.overflow
		}
	}
	cl := b.newClient()
	b.clients[c] = cl
	return cl
}

// over says whether client c has spent its error budget: its next error
// answer would wait.
func (b *errorBudget) over(c netip.Prefix) bool {
	return b.client(c).errors.TokensAt(b.now()) < 1
}

// penalty takes one error from client c's budget and says how long its
// answer should wait: 0 while the budget lasts.
func (b *errorBudget) penalty(c netip.Prefix) time.Duration {
	now := b.now()
	r := b.client(c).errors.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > b.maxPenalty {
		// Far over budget: wait the most, and leave the bucket as it
		// was, so that a client that stops is forgiven in burst/rate
		// seconds however long it flooded.
		r.CancelAt(now)
		d = b.maxPenalty
	}
	return d
}

// hold waits out the penalty of an error answer to the request r, and
// says whether the connection should be closed after it (when too many
// answers are held already, the error is answered at once, and closing
// makes the client pay for a new connection).
func (b *errorBudget) hold(r *http.Request) (closeConn bool) {
	c, ok := clientOf(r.RemoteAddr)
	if !ok {
		return false
	}
	d := b.penalty(c)
	if d <= 0 {
		return false
	}
	outcome := "held"
	select {
	case b.held <- struct{}{}:
	default:
		outcome, closeConn = "closed", true
	}
	if b.observe != nil {
		b.observe.WithLabelValues(outcome).Inc()
	}
	if closeConn {
		return true
	}
	defer func() { <-b.held }()
	_ = b.sleep(r.Context(), d)
	return false
}

// isClientError says whether an answer spends the client's error budget:
// a 4xx but 429, which is the server's overload, not the client's fault.
func isClientError(status int) bool {
	return status >= 400 && status < 500 && status != http.StatusTooManyRequests
}

// budgetWriter holds back the status line of an error answer by the
// client's penalty: the handler has read and judged the request by then,
// and nothing of the answer has gone out.
type budgetWriter struct {
	http.ResponseWriter
	r      *http.Request
	budget *errorBudget
	wrote  bool
}

func (w *budgetWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if isClientError(code) && w.budget.hold(w.r) {
			w.Header().Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *budgetWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *budgetWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// slowBodyChunk is the most slowBody reads at once.
const slowBodyChunk = 16 << 10

// slowBody reads a body at its client's byte rate past its first free
// bytes.
type slowBody struct {
	io.Reader
	ctx   context.Context
	lim   *rate.Limiter
	free  int64
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
}

func (s *slowBody) Read(p []byte) (int, error) {
	if s.free > 0 {
		n, err := s.Reader.Read(p[:min(int64(len(p)), s.free)])
		s.free -= int64(n)
		return n, err
	}
	p = p[:min(len(p), slowBodyChunk)]
	now := s.now()
	r := s.lim.ReserveN(now, len(p))
	if d := r.DelayFrom(now); d > 0 {
		if err := s.sleep(s.ctx, d); err != nil {
			r.CancelAt(s.now())
			return 0, err
		}
	}
	return s.Reader.Read(p)
}

// slowReader reads rd at client c's slow body rate, past its first
// slowBodyFree bytes.
func (b *errorBudget) slowReader(ctx context.Context, c netip.Prefix, rd io.Reader) io.Reader {
	return &slowBody{Reader: rd, ctx: ctx, lim: b.client(c).bytes, free: slowBodyFree, sleep: b.sleep, now: b.now}
}

// slowDown makes r's body a slowBody when its client is over budget and
// the body may be larger than slowBodyFree.
func (b *errorBudget) slowDown(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || (r.ContentLength >= 0 && r.ContentLength <= slowBodyFree) {
		return
	}
	c, ok := clientOf(r.RemoteAddr)
	if !ok || !b.over(c) {
		return
	}
	r.Body = readCloser{Reader: b.slowReader(r.Context(), c, r.Body), Closer: r.Body}
}

type readCloser struct {
	io.Reader
	io.Closer
}
