package serve

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// The routes the console needs, each against the real handler through the
// real client: event ids and resume, peer_updated, deny, the mesh id, job
// history and cancel, and the log tail.

func client(srv *httptest.Server) *controlapi.Client { return controlapi.New(srv.URL, testToken) }

func nextEvent(t *testing.T, ch <-chan controlapi.Event) controlapi.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	panic("unreachable")
}

func TestEventIDsResumeAndReset(t *testing.T) {
	node, srv, h := newTestServerHandler(t, WithEventRing(3))
	c := client(srv)
	ctx, cancel := context.WithCancel(context.Background())
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the client in the hub", func() bool { return h.hub.numClients() == 1 })
	peer := func(name string) controlapi.Event {
		return controlapi.Event{Type: controlapi.EventPeerJoined, Peer: &controlapi.Peer{ID: "12D3KooW" + name, Name: name}}
	}
	node.push(peer("a"))
	first := nextEvent(t, events)
	if !strings.HasSuffix(first.ID, "-1") || first.Peer.Name != "a" {
		t.Fatalf("first event %q %+v", first.ID, first.Peer)
	}
	cancel()
	waitUntil(t, "the client to leave", func() bool { return h.hub.numClients() == 0 })

	// Away: two events pass; resuming replays them, in order, with ids.
	node.push(peer("b"))
	waitUntil(t, "b in the ring", func() bool { h.hub.mu.Lock(); defer h.hub.mu.Unlock(); return h.hub.seq == 2 })
	node.push(peer("c"))
	waitUntil(t, "c in the ring", func() bool { h.hub.mu.Lock(); defer h.hub.mu.Unlock(); return h.hub.seq == 3 })
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resumed, err := c.EventsSince(ctx2, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"b", "c"} {
		ev := nextEvent(t, resumed)
		if ev.Type != controlapi.EventPeerJoined || ev.Peer.Name != want {
			t.Fatalf("replayed %s %+v, want %s", ev.Type, ev.Peer, want)
		}
	}
	cancel2()

	// Ids the ring cannot resume from: too old (the ring holds 3), from
	// another boot, or malformed. The stream opens with a reset carrying
	// the newest id.
	for i := range 2 {
		node.push(peer("d"))
		waitUntil(t, "d in the ring", func() bool { h.hub.mu.Lock(); defer h.hub.mu.Unlock(); return h.hub.seq == uint64(4+i) })
	}
	boot, _, _ := strings.Cut(first.ID, "-")
	for _, last := range []string{first.ID, "feedface-2", boot + "-99", "junk", boot + "-x", "-"} {
		ctx3, cancel3 := context.WithCancel(context.Background())
		ch, err := c.EventsSince(ctx3, last)
		if err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, ch)
		if ev.Type != controlapi.EventStreamReset || ev.ID != boot+"-5" {
			t.Errorf("resume from %q: first event %s %q, want a reset at %s-5", last, ev.Type, ev.ID, boot)
		}
		cancel3()
	}
}

// TestHubSince is the table of Last-Event-ID values against a ring.
func TestHubSince(t *testing.T) {
	h := newEventHub(newFakeNode(), 3, 4, 0)
	for range 5 {
		h.publish(controlapi.Event{Type: "x"})
	}
	// The ring holds 3, 4, 5.
	for _, c := range []struct {
		id    string
		n     int
		reset bool
	}{
		{h.id(5), 0, false}, {h.id(4), 1, false}, {h.id(2), 3, false},
		{h.id(1), 0, true}, {h.id(6), 0, true}, {"other-3", 0, true},
		{"", 0, true}, {h.boot, 0, true}, {h.boot + "-", 0, true}, {h.boot + "--1", 0, true},
		{h.boot + "-18446744073709551616", 0, true}, {h.boot + "-+3", 0, true},
	} {
		out, reset := h.since(c.id)
		if len(out) != c.n || reset != c.reset {
			t.Errorf("since(%q) = %d events, reset %v; want %d, %v", c.id, len(out), reset, c.n, c.reset)
		}
	}
}

func FuzzHubSince(f *testing.F) {
	h := newEventHub(newFakeNode(), 8, 4, 0)
	for range 12 {
		h.publish(controlapi.Event{Type: "x"})
	}
	for _, s := range []string{h.id(9), h.id(1), "x-1", "", "-", h.boot + "-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		out, reset := h.since(id)
		if reset && len(out) > 0 {
			t.Fatalf("reset with %d events", len(out))
		}
		if len(out) > 8 {
			t.Fatalf("%d events from a ring of 8", len(out))
		}
	})
}

func TestPeerUpdatedEvents(t *testing.T) {
	node, srv, _ := newTestServerHandler(t, WithPeerUpdates(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := client(srv).Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node.mu.Lock()
	node.peers[0].RTT = 40 * time.Millisecond // from 2 ms
	node.mu.Unlock()
	ev := nextEvent(t, events)
	if ev.Type != controlapi.EventPeerUpdated || ev.Peer.Name != "alpha" || ev.Peer.RTT != 40*time.Millisecond {
		t.Fatalf("event %s %+v, want alpha's new RTT", ev.Type, ev.Peer)
	}
}

func TestPeerDiff(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := newPeerDiff(time.Second)
	p := controlapi.Peer{ID: "a", RTT: 10 * time.Millisecond, Load: 0.5, Alive: true}
	if evs := d.changes([]controlapi.Peer{p}, at); len(evs) != 0 {
		t.Fatal("the first sight of a peer is an event")
	}
	for _, c := range []struct {
		name  string
		edit  func(*controlapi.Peer)
		after time.Duration
		want  bool
	}{
		{"jitter", func(p *controlapi.Peer) { p.RTT = 10200 * time.Microsecond }, 2 * time.Second, false},
		{"rtt tripled", func(p *controlapi.Peer) { p.RTT = 30 * time.Millisecond }, 2 * time.Second, true},
		{"too soon", func(p *controlapi.Peer) { p.RTT = 90 * time.Millisecond }, 100 * time.Millisecond, false},
		{"load", func(p *controlapi.Peer) { p.Load = 1.5 }, 2 * time.Second, true},
		{"served", func(p *controlapi.Peer) { p.Served = []controlapi.ServedModel{{Name: "m", Versions: []int{1}}} }, 2 * time.Second, true},
	} {
		q := p
		c.edit(&q)
		at = at.Add(c.after)
		evs := d.changes([]controlapi.Peer{q}, at)
		if got := len(evs) == 1; got != c.want {
			t.Errorf("%s: event %v, want %v", c.name, got, c.want)
		}
		if c.want {
			p = q
		}
	}
	if d.changes(nil, at); len(d.last) != 0 {
		t.Error("a peer gone from the table is not forgotten")
	}
}

// denyNode is a fakeNode that can deny and knows its mesh id.
type denyNode struct {
	*fakeNode
	mu     sync.Mutex
	denied []string
}

func (d *denyNode) MeshID() string { return "3fa9c1d2" }

func (d *denyNode) Deny(id string) error {
	switch {
	case !strings.HasPrefix(id, "12D3KooW"):
		return ErrBadPeerID
	case id == d.self.ID:
		return ErrDenySelf
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.denied = append(d.denied, id)
	return nil
}

func TestDenyAndMeshID(t *testing.T) {
	node := &denyNode{fakeNode: newFakeNode()}
	// Through WithJobEvents, as a real node is wrapped.
	h := NewControlHandler(WithJobEvents(node, &stubJobs{}), testToken, WithPeerUpdates(0))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close)
	c := client(srv)
	ctx := context.Background()
	self, err := c.Self(ctx)
	if err != nil || self.MeshID != "3fa9c1d2" {
		t.Fatalf("Self = %+v, %v; want the mesh id", self, err)
	}
	if err := c.DenyPeer(ctx, "12D3KooWAAAAAAAA"); err != nil {
		t.Fatal(err)
	}
	if len(node.denied) != 1 || node.denied[0] != "12D3KooWAAAAAAAA" {
		t.Errorf("denied %v", node.denied)
	}
	for _, c2 := range []struct {
		id     string
		status int
	}{{"not-a-peer", 400}, {node.self.ID, 400}} {
		var ae *controlapi.APIError
		if err := c.DenyPeer(ctx, c2.id); !errors.As(err, &ae) || ae.Status != c2.status {
			t.Errorf("deny %q: %v, want HTTP %d", c2.id, err, c2.status)
		}
	}
	// A node that cannot deny says so.
	_, plain := newTestServer(t)
	var ae *controlapi.APIError
	if err := client(plain).DenyPeer(ctx, "12D3KooWAAAAAAAA"); !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented {
		t.Errorf("deny on a plain node: %v", err)
	}
	if self, _ := client(plain).Self(ctx); self.MeshID != "" {
		t.Errorf("plain node reports mesh id %q", self.MeshID)
	}
}

// historyJobs is a JobManager with one running job of node "me", whose
// events the test sends, and a Cancel that records.
type historyJobs struct {
	stubJobs
	mu       sync.Mutex
	canceled []string
	ended    bool
}

const histJob = "0123456789abcdef0123456789abcdef"

func (h *historyJobs) Jobs() []job.Info {
	return []job.Info{{Spec: job.Spec{ID: histJob, Model: "mlp", Submitter: "me"}, State: job.StateTraining, Self: job.Status{Peer: "me"}}}
}

func (h *historyJobs) Cancel(_ context.Context, id string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case id != histJob:
		return false, job.ErrUnknownJob
	case h.ended:
		return false, job.ErrJobEnded
	}
	h.canceled = append(h.canceled, id)
	h.ended = true
	return true, nil
}

func TestJobHistoryAndCancel(t *testing.T) {
	m := &historyJobs{stubJobs: stubJobs{events: make(chan job.Event, 16)}}
	h := NewControlHandler(jobsTestNode{ch: make(chan controlapi.Event)}, testToken, WithPeerUpdates(0))
	for p, hd := range JobRoutes(m) {
		h.Handle(p, hd)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client(srv)
	ctx := context.Background()

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	send := func(peer string, step int, loss float64) {
		m.events <- job.Event{Type: "job_status", Job: histJob, Time: at.Add(time.Duration(step) * time.Second),
			Status: &job.Status{Job: histJob, Peer: peer, State: job.StateTraining, Epoch: 1, Step: step, Loss: loss, Accuracy: 0.5}}
	}
	send("me", 10, 0.9)
	send("other", 11, 0.1) // a member's status: not this node's history
	send("me", 10, 0.9)    // a heartbeat repeating the last point
	send("me", 20, 0.7)
	var pts []controlapi.JobPoint
	waitUntil(t, "two points", func() bool {
		var err error
		pts, err = c.JobHistory(ctx, histJob)
		return err == nil && len(pts) == 2
	})
	if pts[0].Step != 10 || pts[1].Loss != 0.7 || !pts[1].Time.Equal(at.Add(20*time.Second)) {
		t.Errorf("history %+v", pts)
	}
	var ae *controlapi.APIError
	if _, err := c.JobHistory(ctx, "feedfeed"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("history of an unknown job: %v", err)
	}

	res, err := c.CancelJob(ctx, histJob)
	if err != nil || !res.Mesh || res.ID != histJob {
		t.Fatalf("cancel = %+v, %v", res, err)
	}
	if _, err := c.CancelJob(ctx, histJob); !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Errorf("second cancel: %v, want 409", err)
	}
	if _, err := c.CancelJob(ctx, "feedfeed"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("cancel of an unknown job: %v, want 404", err)
	}
	// A manager without Cancel answers 501.
	plain := jobsTestHandler(&stubJobs{})
	req := httptest.NewRequest(http.MethodPost, controlapi.JobPath(histJob, "cancel"), nil)
	req.Header.Set("Authorization", "Bearer tok")
	rec := httptest.NewRecorder()
	plain.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotImplemented {
		t.Errorf("cancel without a canceler: %d", rec.Code)
	}
}

func TestJobHistoryIsBounded(t *testing.T) {
	h := newJobHistory()
	for i := range 3 * maxHistoryPoints {
		h.add("j", job.Status{State: job.StateTraining, Step: i + 1}, time.Time{})
	}
	pts, _ := h.points("j")
	if len(pts) > maxHistoryPoints || len(pts) < maxHistoryPoints/2 {
		t.Fatalf("%d points kept", len(pts))
	}
	if pts[0].Step != 1 || pts[len(pts)-1].Step != 3*maxHistoryPoints {
		t.Errorf("history spans steps %d..%d; want the whole course", pts[0].Step, pts[len(pts)-1].Step)
	}
	for i := range maxHistoryJobs + 1 {
		h.add(strings.Repeat("x", i+2), job.Status{Step: 1}, time.Time{})
	}
	if _, ok := h.points("j"); ok || len(h.jobs) != maxHistoryJobs {
		t.Errorf("%d jobs kept; the oldest must go first", len(h.jobs))
	}
}

func TestLogTail(t *testing.T) {
	ring := NewLogRing(nil, 4)
	log := slog.New(ring).With("part", "mesh")
	log.Debug("not kept")
	log.Info("one", "peer", "a b")
	log.Warn("two", slog.Group("g", "k", 1))
	log.Error("three")
	log.Info("four")
	log.Info("five") // the ring holds 4: "one" goes
	h := NewControlHandler(newFakeNode(), testToken, WithPeerUpdates(0))
	for p, hd := range LogRoutes(ring) {
		h.Handle(p, hd)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client(srv)
	ctx := context.Background()
	lines, err := c.Logs(ctx, controlapi.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(ls []controlapi.LogLine) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.Msg)
		}
		return strings.Join(s, ",")
	}
	if got := msgs(lines); got != "two,three,four,five" {
		t.Errorf("lines %s", got)
	}
	if lines[0].Attrs != "part=mesh g.k=1" || lines[0].Level != "WARN" || lines[0].Seq != 2 {
		t.Errorf("line %+v", lines[0])
	}
	for _, c2 := range []struct {
		q    controlapi.LogQuery
		want string
	}{
		{controlapi.LogQuery{Level: "warn"}, "two,three"},
		{controlapi.LogQuery{Level: "error"}, "three"},
		{controlapi.LogQuery{N: 2}, "four,five"},
		{controlapi.LogQuery{After: 4}, "five"},
		{controlapi.LogQuery{After: 5}, ""},
	} {
		got, err := c.Logs(ctx, c2.q)
		if err != nil || msgs(got) != c2.want {
			t.Errorf("%+v: %s, %v; want %s", c2.q, msgs(got), err, c2.want)
		}
	}
	for _, q := range []string{"level=loud", "n=0", "n=-1", "n=99999", "n=x", "after=-1", "after=x", "level=" + strings.Repeat("i", 40)} {
		resp, body := get(t, srv.URL+controlapi.PathLogs+"?"+q, "Bearer "+testToken)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error"`) {
			t.Errorf("?%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func FuzzParseLogQuery(f *testing.F) {
	for _, s := range [][3]string{{"info", "10", "0"}, {"", "", ""}, {"WARN+2", "2000", "18446744073709551615"}, {"x", "-1", "y"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, level, n, after string) {
		q, err := parseLogQuery(level, n, after)
		if err == nil && (q.n < 1 || q.n > controlapi.MaxLogLines) {
			t.Fatalf("n %d accepted", q.n)
		}
	})
}
