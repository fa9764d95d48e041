package modelserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTime is a clock that moves only when told, and a sleep that records
// what it was asked to wait (and advances the clock by it).
type fakeTime struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	block  chan struct{} // when set, sleep waits on it
	asleep chan struct{} // when set, sleep signals it first
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.slept = append(f.slept, d)
	block, asleep := f.block, f.asleep
	f.mu.Unlock()
	if asleep != nil {
		asleep <- struct{}{}
	}
	if block != nil {
		<-block
	}
	f.advance(d)
	return nil
}

// sleeps returns and forgets the recorded waits.
func (f *fakeTime) sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.slept
	f.slept = nil
	return s
}

func budgetHandler(t *testing.T, eb ErrorBudget) (http.Handler, *fakeTime) {
	t.Helper()
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	h, err := newHandler(Config{Catalog: emptyCatalog{}, MaxBodyBytes: 1 << 10, ErrorBudget: eb}, func(b *errorBudget) {
		b.now, b.sleep = ft.now, ft.sleep
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, ft
}

// ask sends one request from addr and returns the answer.
func ask(h http.Handler, addr, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestErrorBudget: a client's first DefaultErrorBurst errors are answered
// at once, the next waits 1/rate, and one far over budget waits
// MaxPenalty at most; meanwhile its good requests and another client's
// errors are not held, and once it stops for burst/rate it is forgiven.
func TestErrorBudget(t *testing.T) {
	h, ft := budgetHandler(t, ErrorBudget{})
	const flooder, other = "127.0.0.1:40000", "10.0.0.7:5000"
	bad := func(addr string) {
		t.Helper()
		rec := ask(h, addr, http.MethodPost, "/v1/models/m:predict", "not json")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Fatalf("malformed request: %d %s", rec.Code, rec.Body)
		}
	}
	for range DefaultErrorBurst {
		bad(flooder)
	}
	if s := ft.sleeps(); len(s) != 0 {
		t.Fatalf("errors within the burst were held: %v", s)
	}
	bad(flooder)
	if s := ft.sleeps(); len(s) != 1 || s[0] != time.Second/DefaultErrorRate {
		t.Fatalf("the first error over budget waited %v, want [%v]", s, time.Second/DefaultErrorRate)
	}
	// The same address's well-formed request, and another client's
	// error, go at once.
	if rec := ask(h, flooder, http.MethodGet, "/v2/health/live", ""); rec.Code != http.StatusOK {
		t.Fatalf("health from the flooder's address: %d", rec.Code)
	}
	bad(other)
	if s := ft.sleeps(); len(s) != 0 {
		t.Fatalf("a good request or another client's error was held: %v", s)
	}
	// Far over budget (the clock does not move between these): the wait
	// is capped, and the reservations past the cap are given back.
	for range 3 * DefaultErrorRate {
		ft.mu.Lock()
		ft.t = ft.t.Add(-DefaultMaxPenalty / 4) // undo most of sleep's advance
		ft.mu.Unlock()
		bad(flooder)
	}
	for _, d := range ft.sleeps() {
		if d <= 0 || d > DefaultMaxPenalty {
			t.Fatalf("an error over budget waited %v (cap %v)", d, DefaultMaxPenalty)
		}
	}
	// Quiet for burst/rate (plus what it still owed): forgiven.
	ft.advance(2*time.Duration(DefaultErrorBurst)*time.Second/DefaultErrorRate + DefaultMaxPenalty)
	for range DefaultErrorBurst {
		bad(flooder)
	}
	if s := ft.sleeps(); len(s) != 0 {
		t.Fatalf("a client quiet for a while was still held: %v", s)
	}
}

// TestErrorBudgetCounts: what spends the budget (4xx but 429), with a
// wrong token and a declared-oversize body among them.
func TestErrorBudgetCounts(t *testing.T) {
	for code, want := range map[int]bool{200: false, 204: false, 301: false, 400: true, 401: true, 404: true, 405: true, 413: true, 429: false, 500: false, 503: false} {
		if got := isClientError(code); got != want {
			t.Errorf("isClientError(%d) = %v", code, got)
		}
	}
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	h, err := newHandler(Config{Catalog: emptyCatalog{}, MaxBodyBytes: 1 << 10, Token: "s3cret", ErrorBudget: ErrorBudget{Burst: 2}},
		func(b *errorBudget) { b.now, b.sleep = ft.now, ft.sleep })
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:1"
	for i := range 3 {
		if rec := ask(h, addr, http.MethodGet, "/v1/models/m", ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("no token: %d", rec.Code)
		}
		if got := len(ft.sleeps()); got != max(0, i-1) {
			t.Fatalf("wrong token #%d: %d waits, want %d", i+1, got, max(0, i-1))
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/models/m:predict", strings.NewReader(strings.Repeat("x", 2<<10)))
	req.RemoteAddr = addr
	req.Header.Set("Authorization", "Bearer s3cret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || len(ft.sleeps()) != 1 {
		t.Fatalf("declared oversize over budget: %d, not held", rec.Code)
	}
}

// TestErrorBudgetMaxHeld: with MaxHeld answers waiting, the next error
// over budget is answered at once with its connection closed.
func TestErrorBudgetMaxHeld(t *testing.T) {
	h, ft := budgetHandler(t, ErrorBudget{Burst: 1, MaxHeld: 1})
	addr := "192.0.2.1:9"
	ask(h, addr, http.MethodPost, "/v1/models/m:predict", "{") // spends the burst
	ft.mu.Lock()
	ft.block, ft.asleep = make(chan struct{}), make(chan struct{}, 1)
	ft.mu.Unlock()
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- ask(h, addr, http.MethodPost, "/v1/models/m:predict", "{") }()
	<-ft.asleep // the first is held
	rec := ask(h, addr, http.MethodPost, "/v1/models/m:predict", "{")
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Connection") != "close" {
		t.Errorf("past MaxHeld: %d, Connection %q; want 400 and close", rec.Code, rec.Header().Get("Connection"))
	}
	close(ft.block)
	if held := <-done; held.Code != http.StatusBadRequest || held.Header().Get("Connection") == "close" {
		t.Errorf("the held answer: %d, Connection %q", held.Code, held.Header().Get("Connection"))
	}
}

// TestErrorBudgetOff: a negative rate turns it off.
func TestErrorBudgetOff(t *testing.T) {
	h, _ := budgetHandler(t, ErrorBudget{Rate: -1})
	for range 3 * DefaultErrorBurst {
		ask(h, "127.0.0.1:1", http.MethodPost, "/v1/models/m:predict", "{") // would panic on a nil budget's fake sleep
	}
	if newErrorBudget(ErrorBudget{Rate: -1}) != nil {
		t.Fatal("a negative rate left the budget on")
	}
}

func TestClientOf(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:80", "127.0.0.1/32"},
		{"[::ffff:10.1.2.3]:80", "10.1.2.3/32"},
		{"[2001:db8:1:2:aaaa::1]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:1", "2001:db8:1:2::/64"},
		{"pipe", ""},
		{"", ""},
	} {
		p, ok := clientOf(tc.addr)
		got := ""
		if ok {
			got = p.String()
		}
		if got != tc.want {
			t.Errorf("clientOf(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// TestErrorBudgetBounded: past maxTrackedClients the clients whose budget
// is full again are forgotten, and while none is, new ones share one.
func TestErrorBudgetBounded(t *testing.T) {
	b := newErrorBudget(ErrorBudget{})
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	b.now, b.sleep = ft.now, ft.sleep
	addr := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
	}
	for i := range maxTrackedClients {
		b.penalty(addr(i)) // each spent one error
	}
	if b.client(addr(maxTrackedClients)) != b.overflow {
		t.Fatal("a client past the bound got a budget of its own while every known one is in use")
	}
	ft.advance(time.Second) // all full again
	if c := b.client(addr(maxTrackedClients)); c == b.overflow || len(b.clients) != 1 {
		t.Fatalf("full budgets were not forgotten: %d tracked", len(b.clients))
	}
}

// TestSlowBody: while a client is over budget its large bodies are read
// at the slow rate past slowBodyFree; its small ones, and everyone's
// before, are read as they come.
func TestSlowBody(t *testing.T) {
	b := newErrorBudget(ErrorBudget{Burst: 1, SlowBodyRate: 64 << 10})
	ft := &fakeTime{t: time.Unix(1e9, 0)}
	b.now, b.sleep = ft.now, ft.sleep
	req := func(body []byte, length int64) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/models/m:predict", bytes.NewReader(body))
		r.RemoteAddr, r.ContentLength = "127.0.0.1:5", length
		return r
	}
	big := make([]byte, slowBodyFree+256<<10)
	r := req(big, -1)
	b.slowDown(r)
	if _, ok := r.Body.(readCloser); ok {
		t.Fatal("a body was slowed down before its client made any error")
	}
	c, _ := clientOf("127.0.0.1:5")
	b.penalty(c) // spends the burst: over budget now
	small := req([]byte(`{"instances": [1]}`), 18)
	b.slowDown(small)
	if _, ok := small.Body.(readCloser); ok {
		t.Fatal("a small body was slowed down")
	}
	for _, length := range []int64{-1, int64(len(big))} {
		b.penalty(c) // over budget again (the slow read moved the clock on)
		r := req(big, length)
		b.slowDown(r)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil || n != int64(len(big)) {
			t.Fatalf("length %d: read %d, %v", length, n, err)
		}
		var waited time.Duration
		for _, d := range ft.sleeps() {
			waited += d
		}
		// 256 KiB past the free part at 64 KiB/s: about 4 s (less the
		// one chunk the bucket holds).
		if want := 4*time.Second - time.Second/4; waited < want || waited > 4*time.Second+time.Second/4 {
			t.Errorf("length %d: the slow part took %v of waiting, want about 4s", length, waited)
		}
	}
}

// TestDeclaredOversizeAnswered: a real client sending a whole body
// declared over the cap gets the 413 and its message every time, not a
// connection reset (the server closing a socket with unread data resets
// it, and a client still writing loses the answer).
func TestDeclaredOversizeAnswered(t *testing.T) {
	base := start(t, Config{MaxBodyBytes: 1 << 10})
	body := bytes.Repeat([]byte("a"), 8<<20)
	cl := &http.Client{Timeout: 30 * time.Second}
	for i := range 10 {
		resp, err := cl.Post(base+"/v1/models/m:predict", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("try %d: %v", i+1, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), fmt.Sprintf("over the limit of %d", 1<<10)) {
			t.Fatalf("try %d: %d %s", i+1, resp.StatusCode, msg)
		}
	}
}
