package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

const testToken = "0123456789abcdef0123456789abcdef"

// fakeNode is a Node whose peers and events the test controls.
type fakeNode struct {
	mu        sync.Mutex
	self      controlapi.Peer
	peers     []controlapi.Peer
	subs      map[int]chan controlapi.Event
	next      int
	subbed    chan int // receives a subscription id on Subscribe
	cancelled chan int // receives a subscription id on cancel
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		self: controlapi.Peer{ID: "12D3KooWSelf", Name: "me", Role: "full", Version: "dev", Cores: 2, MemBytes: 1 << 30},
		peers: []controlapi.Peer{
			{ID: "12D3KooWAAAAAAAA", Name: "alpha", Role: "full", Cores: 8, MemBytes: 16 << 30, RTT: 2 * time.Millisecond,
				LastSeen: time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC), Alive: true, Models: []string{"mnist"}},
			{ID: "12D3KooWBBBBBBBB", Name: "beta", Role: "edge", Load: math.NaN(), Alive: true},
		},
		subs:      map[int]chan controlapi.Event{},
		subbed:    make(chan int, 16),
		cancelled: make(chan int, 16),
	}
}

func (f *fakeNode) Self() controlapi.Peer { return f.self }

func (f *fakeNode) Peers() []controlapi.Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]controlapi.Peer(nil), f.peers...)
}

func (f *fakeNode) Subscribe() (<-chan controlapi.Event, func()) {
	f.mu.Lock()
	id := f.next
	f.next++
	ch := make(chan controlapi.Event, 4)
	f.subs[id] = ch
	f.mu.Unlock()
	f.subbed <- id
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
			f.cancelled <- id
		})
	}
}

// push sends ev to every subscriber without blocking, as a node must; it
// reports how many subscribers got it.
func (f *fakeNode) push(ev controlapi.Event) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ch := range f.subs {
		select {
		case ch <- ev:
			n++
		default:
		}
	}
	return n
}

// queued reports how many events wait in subscription id's channel (0 once
// it is cancelled).
func (f *fakeNode) queued(id int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs[id])
}

func (f *fakeNode) numSubs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func newTestServer(t *testing.T, opts ...HandlerOption) (*fakeNode, *httptest.Server) {
	t.Helper()
	node, srv, _ := newTestServerHandler(t, opts...)
	return node, srv
}

// newTestServerHandler is newTestServer that also returns the handler
// (its event hub). Peer updates are off unless opts turn them on, so the
// fake's Peers calls stay the test's.
func newTestServerHandler(t *testing.T, opts ...HandlerOption) (*fakeNode, *httptest.Server, *ControlHandler) {
	t.Helper()
	node := newFakeNode()
	h := NewControlHandler(node, testToken, append([]HandlerOption{WithPeerUpdates(0)}, opts...)...)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	return node, srv, h
}

// waitUntil polls cond (for state with no event to wait on) until it holds
// or 5 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not a wait for an outcome
	}
}

func get(t *testing.T, url, auth string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestAuth(t *testing.T) {
	_, srv := newTestServer(t)
	cases := []struct{ name, auth string }{
		{"missing", ""},
		{"wrong", "Bearer 0123456789abcdef0123456789abcdeX"},
		{"prefix of token", "Bearer " + testToken[:20]},
		{"token plus extra", "Bearer " + testToken + "x"},
		{"wrong scheme", "Basic " + testToken},
		{"no scheme", testToken},
	}
	for _, path := range []string{controlapi.PathSelf, controlapi.PathPeers, controlapi.PathEvents, "/api/v1/nope"} {
		for _, c := range cases {
			resp, body := get(t, srv.URL+path, c.auth)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d, want 401", path, c.name, resp.StatusCode)
			}
			var er controlapi.ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil || er.Error == "" {
				t.Errorf("%s %s: body %q is not {\"error\": ...}", path, c.name, body)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate header", path, c.name)
			}
		}
	}
	// The right token, with the scheme in another case, passes.
	resp, _ := get(t, srv.URL+controlapi.PathSelf, "bearer "+testToken)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("right token: status %d", resp.StatusCode)
	}
}

func TestEmptyTokenRefusesAll(t *testing.T) {
	srv := httptest.NewServer(NewControlHandler(newFakeNode(), ""))
	defer srv.Close()
	for _, auth := range []string{"", "Bearer ", "Bearer"} {
		resp, _ := get(t, srv.URL+controlapi.PathSelf, auth)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("auth %q against empty token: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestSelfAndPeersJSON(t *testing.T) {
	node, srv := newTestServer(t)
	resp, body := get(t, srv.URL+controlapi.PathSelf, "Bearer "+testToken)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("self: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var self map[string]any
	if err := json.Unmarshal(body, &self); err != nil {
		t.Fatal(err)
	}
	if self["id"] != node.self.ID || self["name"] != "me" {
		t.Errorf("self = %v", self)
	}
	if _, ok := self["last_seen"]; ok {
		t.Errorf("self has a zero last_seen: %s", body)
	}
	for _, k := range []string{"models", "jobs", "addrs"} {
		if v, ok := self[k].([]any); !ok || len(v) != 0 {
			t.Errorf("self.%s = %#v, want []", k, self[k])
		}
	}

	resp, body = get(t, srv.URL+controlapi.PathPeers, "Bearer "+testToken)
	if resp.StatusCode != 200 {
		t.Fatalf("peers: %d %s", resp.StatusCode, body)
	}
	var pr controlapi.PeersResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		t.Fatalf("peers body %s: %v", body, err)
	}
	if len(pr.Peers) != 2 || pr.Peers[0].Name != "alpha" || pr.Peers[1].Name != "beta" {
		t.Fatalf("peers = %+v", pr.Peers)
	}
	if pr.Peers[0].RTT != 2*time.Millisecond || !pr.Peers[0].LastSeen.Equal(node.peers[0].LastSeen) || pr.Peers[0].Models[0] != "mnist" {
		t.Errorf("alpha = %+v", pr.Peers[0])
	}
	if pr.Peers[1].Load != 0 { // NaN load must not break the answer
		t.Errorf("beta load = %v, want 0", pr.Peers[1].Load)
	}
	if !strings.Contains(string(body), `"rtt_ns":2000000`) || !strings.Contains(string(body), `"mem_bytes":17179869184`) {
		t.Errorf("peers JSON lacks stable field names: %s", body)
	}
}

func TestUnknownRouteAndMethodAreJSON(t *testing.T) {
	_, srv := newTestServer(t)
	resp, body := get(t, srv.URL+"/api/v1/nope", "Bearer "+testToken)
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"error"`) {
		t.Errorf("unknown route: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+controlapi.PathSelf, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testToken)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 405 || !strings.Contains(string(b2), `"error"`) || !strings.Contains(r2.Header.Get("Allow"), "GET") {
		t.Errorf("wrong method: %d allow=%q %s", r2.StatusCode, r2.Header.Get("Allow"), b2)
	}
}

// TestHandleAddsRoute shows how a later feature adds a POST route: one Handle
// call, behind the token, with the JSON body helper.
func TestHandleAddsRoute(t *testing.T) {
	node := newFakeNode()
	h := NewControlHandler(node, testToken)
	type job struct {
		Model string `json:"model"`
	}
	h.Handle("POST /api/v1/jobs", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var j job
		if DecodeRequest(w, r, 0, &j) != nil {
			return
		}
		WriteJSON(w, http.StatusCreated, j)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(auth, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/jobs", strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post("Bearer "+testToken, `{"model":"mlp"}`); code != 201 || !strings.Contains(body, `"mlp"`) {
		t.Errorf("good job: %d %s", code, body)
	}
	if code, _ := post("", `{"model":"mlp"}`); code != 401 {
		t.Errorf("job without token: %d", code)
	}
	if code, body := post("Bearer "+testToken, `{"modle":"mlp"}`); code != 400 || !strings.Contains(body, "unknown field") {
		t.Errorf("misspelt field: %d %s", code, body)
	}
	big := `{"model":"` + strings.Repeat("x", MaxRequestBytes) + `"}`
	if code, body := post("Bearer "+testToken, big); code != 413 || !strings.Contains(body, "too large") {
		t.Errorf("huge body: %d %.200s", code, body)
	}
}

// sseClient opens the event stream and returns a decoder over it.
func sseClient(t *testing.T, ctx context.Context, url string) (*controlapi.EventDecoder, *http.Response) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+controlapi.PathEvents, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return controlapi.NewEventDecoder(resp.Body, 0), resp
}

func TestEventsDeliverPeerJoined(t *testing.T) {
	node, srv := newTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dec, resp := sseClient(t, ctx, srv.URL)
	defer resp.Body.Close()
	waitFor(t, node.subbed, "the handler to subscribe")

	at := time.Date(2026, 11, 28, 16, 0, 0, 0, time.UTC)
	p := controlapi.Peer{ID: "12D3KooWNEW", Name: "gamma", Role: "full", Alive: true}
	if n := node.push(controlapi.Event{Type: controlapi.EventPeerJoined, Peer: &p, Time: at}); n != 1 {
		t.Fatalf("event reached %d subscribers, want 1", n)
	}
	got := make(chan controlapi.Event, 1)
	errc := make(chan error, 1)
	go func() {
		ev, err := dec.Next()
		if err != nil {
			errc <- err
			return
		}
		got <- ev
	}()
	select {
	case ev := <-got:
		if ev.Type != controlapi.EventPeerJoined || ev.Peer == nil || ev.Peer.Name != "gamma" || !ev.Time.Equal(at) {
			t.Errorf("event = %+v", ev)
		}
	case err := <-errc:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no peer_joined event within the deadline")
	}
}

func TestEventsHeartbeat(t *testing.T) {
	_, srv := newTestServer(t, WithHeartbeat(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp := sseClient(t, ctx, srv.URL)
	defer resp.Body.Close()
	// Read raw lines until a ping comment arrives.
	buf := make([]byte, 0, 256)
	tmp := make([]byte, 64)
	for !strings.Contains(string(buf), ": ping\n\n") {
		n, err := resp.Body.Read(tmp)
		if err != nil {
			t.Fatalf("stream ended before a heartbeat: %v (read %q)", err, buf)
		}
		buf = append(buf, tmp[:n]...)
	}
}

// TestEventsClientDisconnectCancelsSubscription: a client that goes away
// leaves the hub; the hub's one subscription to the node stays (for the
// ring) until the handler closes.
func TestEventsClientDisconnectCancelsSubscription(t *testing.T) {
	node, srv, h := newTestServerHandler(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, resp := sseClient(t, ctx, srv.URL)
	id := waitFor(t, node.subbed, "the handler to subscribe")
	waitUntil(t, "the client in the hub", func() bool { return h.hub.numClients() == 1 })
	cancel()
	resp.Body.Close()
	waitUntil(t, "the client to leave the hub", func() bool { return h.hub.numClients() == 0 })
	// A second stream shares the hub's subscription.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	_, resp2 := sseClient(t, ctx2, srv.URL)
	defer resp2.Body.Close()
	waitUntil(t, "the second client in the hub", func() bool { return h.hub.numClients() == 1 })
	if n := node.numSubs(); n != 1 {
		t.Errorf("%d node subscriptions, want the hub's one", n)
	}
	h.Close()
	if got := waitFor(t, node.cancelled, "the subscription to be cancelled"); got != id {
		t.Errorf("cancelled subscription %d, want %d", got, id)
	}
	if n := node.numSubs(); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}

func TestEventsSlowClientIsDropped(t *testing.T) {
	node, srv, h := newTestServerHandler(t, WithEventBuffer(1000))
	// A raw client that sends the request and then never reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(conn, "GET "+controlapi.PathEvents+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testToken+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	id := waitFor(t, node.subbed, "the handler to subscribe")
	waitUntil(t, "the client in the hub", func() bool { return h.hub.numClients() == 1 })
	// Feed big events at the pace the server takes them, so its writes
	// block on the full socket before its queue overflows. The node must
	// never block: push returns at once every time. The server must then
	// drop the client well before eventWriteTimeout (10 s) would, by
	// interrupting the blocked write.
	big := controlapi.Peer{ID: "x", Name: strings.Repeat("n", 256<<10)}
	start := time.Now()
	deadline := time.After(5 * time.Second)
	for pushed := 0; ; {
		if node.queued(id) == 0 {
			node.push(controlapi.Event{Type: controlapi.EventPeerJoined, Peer: &big})
			pushed++
		}
		if h.hub.numClients() == 0 {
			t.Logf("slow client dropped after %v and %d events", time.Since(start), pushed)
			if node.numSubs() != 1 {
				t.Errorf("the hub's node subscription went with the slow client")
			}
			return
		}
		select {
		case <-deadline:
			t.Fatalf("slow client was never dropped (%d events pushed)", pushed)
		default:
			runtime.Gosched()
		}
	}
}

// blockingWriter is a ResponseWriter whose writes block, once blockAfter
// writes went through, until a write deadline in the past is set (as a real
// connection behaves when the peer stops reading). It lets a test check
// deterministically that the server interrupts a blocked write.
type blockingWriter struct {
	mu         sync.Mutex
	cond       *sync.Cond
	header     http.Header
	writes     int
	blockAfter int
	expired    bool
	blocked    chan struct{} // closed when a write starts blocking
}

func newBlockingWriter(blockAfter int) *blockingWriter {
	w := &blockingWriter{header: http.Header{}, blockAfter: blockAfter, blocked: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) FlushError() error   { return nil }

func (w *blockingWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.writes <= w.blockAfter {
		return len(b), nil
	}
	if w.writes == w.blockAfter+1 {
		close(w.blocked)
	}
	for !w.expired {
		w.cond.Wait()
	}
	return 0, os.ErrDeadlineExceeded
}

func (w *blockingWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expired = !t.IsZero() && !t.After(time.Now())
	w.cond.Broadcast()
	return nil
}

func TestEventsBlockedWriteIsInterrupted(t *testing.T) {
	node := newFakeNode()
	h := NewControlHandler(node, testToken, WithEventBuffer(2), WithPeerUpdates(0))
	defer h.Close()
	w := newBlockingWriter(1) // the opening comment passes, the first event blocks
	req := httptest.NewRequest(http.MethodGet, controlapi.PathEvents, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	served := make(chan struct{})
	go func() {
		defer close(served)
		h.ServeHTTP(w, req)
	}()
	waitFor(t, node.subbed, "the handler to subscribe")
	waitUntil(t, "the client in the hub", func() bool { return h.hub.numClients() == 1 })
	ev := controlapi.Event{Type: controlapi.EventPeerJoined, Peer: &controlapi.Peer{ID: "x"}}
	node.push(ev)
	waitFor(t, w.blocked, "the handler to block in a write")
	// With the handler stuck, events pile up: 2 fit in its queue, the next
	// overflows it. The hub never blocks; the client is dropped.
	for i := 0; i < 3; i++ {
		node.push(ev)
	}
	waitFor(t, served, "the handler to return")
	if n := h.hub.numClients(); n != 0 {
		t.Errorf("%d clients left in the hub", n)
	}
}

func TestEventsEndOnServerShutdown(t *testing.T) {
	node := newFakeNode()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServeControl(ctx, node, ControlConfig{Addr: "127.0.0.1:0", DataDir: dir, Ready: func(a net.Addr) { addrc <- a }})
	}()
	addr := waitFor(t, addrc, "the server to listen").String()
	c, err := controlapi.NewFromDataDir(addr, dir)
	if err != nil {
		t.Fatal(err)
	}
	self, err := c.Self(ctx)
	if err != nil || self.ID != node.self.ID {
		t.Fatalf("Self = %+v, %v", self, err)
	}
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, node.subbed, "the handler to subscribe")
	cancel()
	if err := waitFor(t, done, "ListenAndServeControl to return"); err != nil {
		t.Errorf("ListenAndServeControl: %v", err)
	}
	waitFor(t, node.cancelled, "the subscription to be cancelled")
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for range events { // the client's channel must close
		}
	}()
	waitFor(t, closed, "the client's event channel to close")
}

func TestNonLoopbackRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7070", ":7070", "192.0.2.1:7070", "[::]:7070", "example.com:7070"} {
		err := ListenAndServeControl(context.Background(), newFakeNode(), ControlConfig{Addr: addr, DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("%s: err = %v, want a not-loopback refusal", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:7070", "[::1]:7070", "localhost:7070", "127.1.2.3:1"} {
		if err := CheckLoopback(addr, false); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if err := CheckLoopback("0.0.0.0:7070", true); err != nil {
		t.Errorf("allowed non-loopback: %v", err)
	}
	if err := CheckLoopback("nonsense", false); err == nil {
		t.Error("address without port accepted")
	}
}

func TestTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tok, err := LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(controlapi.TokenPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if len(tok) != 64 {
		t.Errorf("token %q: want 64 hex chars", tok)
	}
	again, err := LoadOrCreateToken(dir)
	if err != nil || again != tok {
		t.Errorf("second load = %q, %v; want the same token", again, err)
	}
	// A loose mode is tightened.
	if err := os.Chmod(controlapi.TokenPath(dir), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateToken(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(controlapi.TokenPath(dir)); fi.Mode().Perm() != 0o600 {
		t.Errorf("loose mode not tightened: %v", fi.Mode().Perm())
	}
	// A broken file is an error, not an empty token.
	if err := os.WriteFile(controlapi.TokenPath(dir), []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateToken(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty token file: err = %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	_, srv := newTestServer(t)
	ctx := context.Background()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if _, err := controlapi.New(addr, "wrong-token-0123456789").Self(ctx); !errors.Is(err, controlapi.ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := controlapi.New(addr, "").Events(ctx); !errors.Is(err, controlapi.ErrUnauthorized) || err.Error() != "unauthorized: wrong or missing API token" {
		t.Errorf("missing token: %v", err)
	}
	peers, err := controlapi.New(srv.URL, testToken).Peers(ctx)
	if err != nil || len(peers) != 2 {
		t.Errorf("Peers = %v, %v", peers, err)
	}
	// A port nobody listens on: bind one, note it, close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	_, err = controlapi.New(dead, testToken).Peers(ctx)
	if !errors.Is(err, controlapi.ErrNoNode) || !strings.Contains(err.Error(), "no shoal node answering on "+dead+" (is `shoal up` running?)") {
		t.Errorf("dead port: %v", err)
	}
}

func TestEncodeEvent(t *testing.T) {
	p := controlapi.Peer{ID: "A", Name: "line\nbreak\r", Load: math.Inf(1)}
	frame, err := encodeEvent("", controlapi.Event{Type: controlapi.EventPeerJoined, Peer: &p})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(frame, "\n") != 3 || !strings.HasPrefix(frame, "event: peer_joined\ndata: {") || !strings.HasSuffix(frame, "}\n\n") {
		t.Errorf("frame %q is not one event line, one data line and a blank line", frame)
	}
	ev, err := controlapi.NewEventDecoder(strings.NewReader(frame), 0).Next()
	if err != nil || ev.Peer.Name != p.Name || ev.Peer.Load != 0 {
		t.Errorf("round trip = %+v, %v", ev, err)
	}
	for _, bad := range []controlapi.Event{
		{Type: ""},
		{Type: "peer_joined\ndata: {}"},
		{Type: "Peer Joined"},
		{Type: controlapi.EventPeerJoined, Peer: &controlapi.Peer{Name: strings.Repeat("x", controlapi.MaxEventBytes)}},
	} {
		if _, err := encodeEvent("b-1", bad); err == nil {
			t.Errorf("encodeEvent(%.40q) accepted", bad.Type)
		}
	}
}

func TestListenAndServeControlErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = ListenAndServeControl(context.Background(), newFakeNode(), ControlConfig{Addr: ln.Addr().String(), DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Errorf("port in use: %v", err)
	}
	err = ListenAndServeControl(context.Background(), newFakeNode(), ControlConfig{Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "data dir") {
		t.Errorf("no data dir: %v", err)
	}
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	err = ListenAndServeControl(context.Background(), newFakeNode(), ControlConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(),
		Routes: map[string]http.Handler{"GET " + controlapi.PathSelf: noop}})
	if err == nil || !strings.Contains(err.Error(), "conflicts") {
		t.Errorf("conflicting route: %v", err)
	}
}

func TestListenAndServeControlRoutes(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"hello": "jobs"})
	})
	go func() {
		done <- ListenAndServeControl(ctx, newFakeNode(), ControlConfig{Addr: "127.0.0.1:0", DataDir: dir,
			Ready: func(a net.Addr) { addrc <- a }, Routes: map[string]http.Handler{"GET /api/v1/jobs": hello}})
	}()
	base := "http://" + waitFor(t, addrc, "the server to listen").String()
	tok, err := controlapi.ReadTokenFile(controlapi.TokenPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, base+"/api/v1/jobs", "Bearer "+tok); resp.StatusCode != 200 || !strings.Contains(string(body), "jobs") {
		t.Errorf("extra route: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/api/v1/jobs", ""); resp.StatusCode != 401 {
		t.Errorf("extra route without token: %d", resp.StatusCode)
	}
	cancel()
	if err := waitFor(t, done, "shutdown"); err != nil {
		t.Error(err)
	}
}
