package job

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
)

func TestDecodeRefusalMessage(t *testing.T) {
	id := validAnnouncement().Spec.ID
	b, err := encodeEnvelope(envelope{V: messageVersion, Kind: kindRefusal, Refusal: &RefusalMessage{Job: id, Reason: RefusedMemory, Detail: "too big"}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := decodeMessage(b)
	if err != nil || env.Refusal.Job != id || env.Refusal.Reason != RefusedMemory || env.Refusal.Detail != "too big" {
		t.Fatalf("round trip: %v %+v", err, env.Refusal)
	}
	body := func(job, reason, detail string) string {
		return `{"job":"` + job + `","reason":"` + reason + `","detail":"` + detail + `"}`
	}
	for _, c := range []struct{ name, in, want string }{
		{"no body", `{"v":1,"kind":"refusal"}`, "without its body"},
		{"null body", `{"v":1,"kind":"refusal","refusal":null}`, "without its body"},
		{"bad id", `{"v":1,"kind":"refusal","refusal":` + body("../x", "memory", "") + `}`, "bad job id"},
		{"unknown reason", `{"v":1,"kind":"refusal","refusal":` + body(id, "grumpy", "") + `}`, "unknown reason"},
		{"no reason", `{"v":1,"kind":"refusal","refusal":` + body(id, "", "") + `}`, "unknown reason"},
		{"long detail", `{"v":1,"kind":"refusal","refusal":` + body(id, "busy", strings.Repeat("x", maxRefusalDetail+1)) + `}`, "exceeds"},
		{"two bodies", `{"v":1,"kind":"refusal","refusal":` + body(id, "busy", "") + `,"cancel":{"job":"` + id + `"}}`, "without its body"},
		{"refusal on a cancel", `{"v":1,"kind":"cancel","refusal":` + body(id, "busy", "") + `,"cancel":{"job":"` + id + `"}}`, "without its body"},
		{"unknown field", `{"v":1,"kind":"refusal","refusal":{"job":"` + id + `","reason":"busy","who":"me"}}`, "unknown field"},
		{"wrong type", `{"v":1,"kind":"refusal","refusal":{"job":"` + id + `","reason":7}}`, "reason"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMessage([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeRefusal(f *testing.F) {
	id := validAnnouncement().Spec.ID
	f.Add([]byte(`{"v":1,"kind":"refusal","refusal":{"job":"` + id + `","reason":"declined","detail":"no"}}`))
	f.Add([]byte(`{"v":1,"kind":"refusal","refusal":{"job":"` + id + `","reason":"busy"},"status":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := decodeMessage(b)
		if err == nil && env.Kind == kindRefusal &&
			(env.Refusal == nil || !validID(env.Refusal.Job) || !refusedReasons[env.Refusal.Reason] || len(env.Refusal.Detail) > maxRefusalDetail) {
			t.Fatalf("accepted %q", b)
		}
	})
}

// waitFor reads events until ok holds, or fails the test at ctx's end.
func waitFor(t *testing.T, ctx context.Context, events <-chan Event, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-events:
		case <-time.After(100 * time.Millisecond): // ok may depend on state no event announces
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func infoOf(m *Manager, id string) (Info, bool) {
	for _, in := range m.Jobs() {
		if in.Spec.ID == id {
			return in, true
		}
	}
	return Info{}, false
}

func refusalBy(in Info, p *cancelPeer) (Refusal, bool) {
	for _, r := range in.Refusals {
		if r.Peer == p.node.ID().String() {
			return r, true
		}
	}
	return Refusal{}, false
}

// TestRefusalsReachTheSubmitter runs five real peers: a submits; b joins
// no jobs of others (--jobs off), c has a memory budget far below any job,
// e is an edge peer, d asks its operator (--jobs ask). The submitter hears
// from b, c and e that they refused and why; d holds the job as pending
// (not started: no job, no averager) until its operator answers. Declined,
// the submitter hears "declined"; a second job accepted, d runs it; a
// third left unanswered expires, shown as such on d, and the submitter
// hears "expired".
func TestRefusalsReachTheSubmitter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	const pendingFor = 3 * time.Second
	a := startCancelPeer(t, ctx, psk, nil)
	boot := a.node.Addrs()
	b := startTestPeer(t, ctx, psk, boot, mesh.RoleFull, func(c *Config) { c.JoinPolicy = JoinOff })
	c := startTestPeer(t, ctx, psk, boot, mesh.RoleFull, func(c *Config) { c.MemBudget = 1024 })
	d := startTestPeer(t, ctx, psk, boot, mesh.RoleFull, func(c *Config) { c.JoinPolicy = JoinAsk; c.PendingTimeout = pendingFor })
	e := startTestPeer(t, ctx, psk, boot, mesh.RoleEdge, nil)
	for _, p := range []*cancelPeer{b, c, d, e} {
		for {
			if info, ok := a.node.Peer(p.node.ID()); ok && info.Alive {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("peers never met")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	data := datatest.DaysTSV(t, 60)
	aEvents, stopA := a.jobs.Subscribe()
	defer stopA()
	dEvents, stopD := d.jobs.Subscribe()
	defer stopD()

	// MinPeers 5: the job waits for members and never trains.
	spec, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: data, Epochs: 1, MinPeers: 5, ShardRows: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[*cancelPeer]string{b: RefusedPolicy, c: RefusedMemory, e: RefusedEdge}
	waitFor(t, ctx, aEvents, "three refusals", func() bool {
		in, _ := infoOf(a.jobs, spec.ID)
		return len(in.Refusals) >= 3
	})
	in, _ := infoOf(a.jobs, spec.ID)
	for p, reason := range want {
		r, ok := refusalBy(in, p)
		if !ok || r.Reason != reason || r.Detail == "" {
			t.Errorf("refusal by %s: %+v (%v), want reason %s", p.node.ID(), r, ok, reason)
		}
	}
	if r, ok := refusalBy(in, b); !ok || !strings.Contains(r.Detail, "--jobs off") {
		t.Errorf("b's refusal does not say why: %+v", r)
	}
	if r, ok := refusalBy(in, c); !ok || !strings.Contains(r.Detail, "--mem-budget") {
		t.Errorf("c's refusal does not say why: %+v", r)
	}

	// d holds the job, allocating nothing.
	waitFor(t, ctx, dEvents, "d to hold the job", func() bool {
		in, ok := infoOf(d.jobs, spec.ID)
		return ok && in.State == StatePending
	})
	if _, err := os.Stat(d.jobs.jobDir(spec.ID)); d.jobs.Known(spec.ID) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("d started a job its operator has not accepted (running %v, job dir: %v)", d.jobs.Known(spec.ID), err)
	}
	if in, _ := infoOf(d.jobs, spec.ID); in.Expires.IsZero() || time.Until(in.Expires) > pendingFor {
		t.Errorf("pending job expires at %v", in.Expires)
	}
	if _, ok := refusalBy(in, d); ok {
		t.Error("a pending peer counted as refusing")
	}
	if err := d.jobs.Decline(spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.jobs.Accept(spec.ID); err == nil || !strings.Contains(err.Error(), "declined") {
		t.Errorf("accept after decline: %v", err)
	}
	waitFor(t, ctx, aEvents, "d's refusal", func() bool {
		in, _ := infoOf(a.jobs, spec.ID)
		r, ok := refusalBy(in, d)
		return ok && r.Reason == RefusedDeclined
	})
	if in, _ := infoOf(d.jobs, spec.ID); in.State != StateDeclined || d.jobs.Known(spec.ID) {
		t.Errorf("declined job on d: %+v, running %v", in.State, d.jobs.Known(spec.ID))
	}

	// A second job: d's operator accepts it, and d runs it.
	spec2, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: data, Epochs: 1, MinPeers: 5, ShardRows: 20, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, dEvents, "d to hold the second job", func() bool {
		in, ok := infoOf(d.jobs, spec2.ID)
		return ok && in.State == StatePending
	})
	if err := d.jobs.Accept(spec2.ID); err != nil {
		t.Fatal(err)
	}
	if !d.jobs.Known(spec2.ID) {
		t.Fatal("an accepted job does not run")
	}
	waitFor(t, ctx, aEvents, "d's status in the second job", func() bool {
		_, ok := a.jobs.memberStatuses(spec2.ID)[d.node.ID()]
		return ok
	})

	// A third, left unanswered, expires.
	spec3, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: data, Epochs: 1, MinPeers: 5, ShardRows: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, aEvents, "d's expiry", func() bool {
		in, _ := infoOf(a.jobs, spec3.ID)
		r, ok := refusalBy(in, d)
		return ok && r.Reason == RefusedExpired
	})
	if in, _ := infoOf(d.jobs, spec3.ID); in.State != StateExpired || d.jobs.Known(spec3.ID) {
		t.Errorf("unanswered job on d: %q, running %v", in.State, d.jobs.Known(spec3.ID))
	}
	for _, id := range []string{spec.ID, spec2.ID, spec3.ID} {
		if _, err := a.jobs.Cancel(ctx, id); err != nil {
			t.Error(err)
		}
	}
}
