package job

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
)

// liarAnnouncements are n well-formed, properly signed announcements that
// no peer may take, each a different job: every other one's id is not the
// hash of its spec (a spec changed after it was named), the rest name
// their spec rightly but ask for a model of 2^30 parameters (8× nn.MaxParams).
func liarAnnouncements(t *testing.T, n int) (msgs [][]byte, ids []string) {
	t.Helper()
	for i := range n {
		a := validAnnouncement()
		a.Spec.Seed = uint64(100 + i)
		a.Spec.assignID()
		if i%2 == 0 {
			a.Spec.Epochs = 999 // after the id was taken
		} else {
			a.Spec.ModelSpec = []byte(`{"input":[1048576],"layers":[{"type":"dense","units":1024},{"type":"dense","units":2}]}`)
			a.Manifest.SampleShape = []int{1 << 20}
			a.Spec.assignID()
		}
		if err := a.validate(); err != nil {
			t.Fatalf("announcement %d is not well formed field by field: %v", i, err)
		}
		b, err := encodeAnnouncement(a)
		if err != nil {
			t.Fatal(err)
		}
		msgs, ids = append(msgs, b), append(ids, a.Spec.ID)
	}
	return msgs, ids
}

// startRawMember starts a mesh node (it holds the key, heartbeats, is a
// member) that joins the jobs topic without the job manager's validator,
// so its own router lets out what shoal never would.
func startRawMember(t *testing.T, ctx context.Context, psk []byte, boot []string) (*mesh.Node, *pubsub.Topic) {
	t.Helper()
	n, err := mesh.Start(ctx, mesh.Config{DataDir: t.TempDir(), PSK: psk, Listen: []string{mesh.DefaultListen}, Bootstrap: boot,
		Role: mesh.RoleFull, Version: "test", HeartbeatInterval: 100 * time.Millisecond, PeerTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	top, err := n.PubSub().Join(n.Topic(topicName))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := top.Subscribe() // so the others take it for a topic peer
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Cancel)
	return n, top
}

// poll calls ok every 50 ms until it holds, or fails the test at ctx's end.
func poll(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestInvalidAnnouncementsScoreDown: a member publishes well-formed,
// signed announcements that no peer may take (ids that are not their
// spec's hash, a model over the parameter cap). The honest peers' topic
// validator rejects them, so each honest peer scores the member down
// until it is graylisted and pruned from the jobs topic's mesh; no honest
// peer holds, starts or refuses any of those jobs, even a sound
// announcement the member sends once graylisted is dropped, and an honest
// job's messages keep flowing between the honest peers.
func TestInvalidAnnouncementsScoreDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := startCancelPeer(t, ctx, psk, nil)
	boot := a.node.Addrs()
	b := startCancelPeer(t, ctx, psk, boot)
	c := startCancelPeer(t, ctx, psk, boot)
	liar, liarTopic := startRawMember(t, ctx, psk, append(append(append([]string(nil), boot...), b.node.Addrs()...), c.node.Addrs()...))
	honest := []*cancelPeer{a, b, c}
	jobsTopic := liar.Topic(topicName)
	for _, p := range honest {
		poll(t, ctx, "the liar in the jobs topic's mesh of every honest peer", func() bool {
			r, ok := p.node.PeerScoreReport(liar.ID())
			return ok && slices.Contains(r.Meshes, jobsTopic) && r.Score >= 0
		})
	}
	poll(t, ctx, "the liar to see every honest topic peer", func() bool {
		return len(liarTopic.ListPeers()) >= len(honest)
	})
	events := make([]<-chan Event, len(honest))
	for k, p := range honest {
		ch, stop := p.jobs.Subscribe()
		defer stop()
		events[k] = ch
	}

	const n = 8
	msgs, ids := liarAnnouncements(t, n)
	for _, m := range msgs {
		if err := liarTopic.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for k, p := range honest {
		var r mesh.ScoreReport
		poll(t, ctx, "every honest peer to graylist the liar", func() bool {
			r, _ = p.node.PeerScoreReport(liar.ID())
			return r.Graylisted()
		})
		t.Logf("honest peer %d scores the liar %.0f (%.1f invalid messages)", k, r.Score, r.InvalidMessages)
		if r.InvalidMessages < n/2 {
			t.Errorf("honest peer %d counts %.1f invalid messages of %d", k, r.InvalidMessages, n)
		}
		poll(t, ctx, "every honest peer to prune the liar from the jobs topic's mesh", func() bool {
			r, _ := p.node.PeerScoreReport(liar.ID())
			return !slices.Contains(r.Meshes, jobsTopic)
		})
	}

	// Graylisted, even a sound announcement of the liar's is dropped.
	sound := validAnnouncement()
	sound.Spec.Seed = 7
	sound.Spec.assignID()
	bs, err := encodeAnnouncement(sound)
	if err != nil {
		t.Fatal(err)
	}
	if err := liarTopic.Publish(ctx, bs); err != nil {
		t.Fatal(err)
	}

	// An honest job (MinPeers 4 of 3 honest: its members announce their
	// status and wait) reaches both other honest peers.
	spec, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: datatest.DaysTSV(t, 60), Epochs: 1, MinPeers: 4, ShardRows: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the honest job's statuses from b and c at its submitter", func() bool {
		st := a.jobs.memberStatuses(spec.ID)
		_, hb := st[b.node.ID()]
		_, hc := st[c.node.ID()]
		return hb && hc
	})
	if _, ok := a.jobs.memberStatuses(spec.ID)[liar.ID()]; ok {
		t.Error("the liar counts as a member of the honest job")
	}

	for k, p := range honest {
		for _, id := range append(ids, sound.Spec.ID) {
			if _, ok := infoOf(p.jobs, id); ok || p.jobs.Known(id) || p.jobs.held(id) {
				t.Errorf("honest peer %d took up the liar's job %s", k, id)
			}
			if _, err := os.Stat(p.jobs.jobDir(id)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("honest peer %d has a directory for the liar's job %s (%v)", k, id, err)
			}
		}
		p.jobs.mu.Lock()
		refused := len(p.jobs.refused)
		p.jobs.mu.Unlock()
		if refused != 0 {
			t.Errorf("honest peer %d refused %d jobs: the liar's announcements reached admission", k, refused)
		}
	drain:
		for {
			select {
			case ev := <-events[k]:
				if ev.Job != spec.ID {
					t.Errorf("honest peer %d: event %s of job %s", k, ev.Type, ev.Job)
				}
			default:
				break drain
			}
		}
	}
	for _, p := range honest {
		for _, q := range honest {
			if r, ok := p.node.PeerScoreReport(q.node.ID()); p != q && ok && (r.Score < 0 || r.InvalidMessages > 0) {
				t.Errorf("an honest peer scores another %.1f (%.1f invalid messages)", r.Score, r.InvalidMessages)
			}
		}
	}
	if _, err := a.jobs.Cancel(ctx, spec.ID); err != nil {
		t.Error(err)
	}
}

// TestLocalRefusalDoesNotScoreDown: peers that refuse a job for reasons of
// their own (b joins no jobs of others, c's memory budget is too small)
// tell its submitter why, and do not score the submitter down: the
// announcement was no fault of its.
func TestLocalRefusalDoesNotScoreDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := startCancelPeer(t, ctx, psk, nil)
	boot := a.node.Addrs()
	b := startTestPeer(t, ctx, psk, boot, mesh.RoleFull, func(c *Config) { c.JoinPolicy = JoinOff })
	c := startTestPeer(t, ctx, psk, boot, mesh.RoleFull, func(c *Config) { c.MemBudget = 1024 })
	for _, p := range []*cancelPeer{b, c} {
		poll(t, ctx, "the refusing peers to know a", func() bool {
			_, ok := p.node.PeerScoreReport(a.node.ID())
			info, alive := a.node.Peer(p.node.ID())
			return ok && alive && info.Alive
		})
	}
	aEvents, stop := a.jobs.Subscribe()
	defer stop()
	spec, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: datatest.DaysTSV(t, 60), Epochs: 1, MinPeers: 3, ShardRows: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, aEvents, "b's and c's refusals", func() bool {
		in, _ := infoOf(a.jobs, spec.ID)
		rb, okb := refusalBy(in, b)
		rc, okc := refusalBy(in, c)
		return okb && rb.Reason == RefusedPolicy && okc && rc.Reason == RefusedMemory
	})
	// Each refusing peer validated the announcement before it refused it;
	// a score report taken after the refusal arrived shows the verdict.
	heard := time.Now()
	for _, p := range []*cancelPeer{b, c} {
		var r mesh.ScoreReport
		poll(t, ctx, "a score report taken after the refusal", func() bool {
			r, _ = p.node.PeerScoreReport(a.node.ID())
			return r.At.After(heard)
		})
		if r.Score < 0 || r.InvalidMessages != 0 {
			t.Errorf("%s scores the submitter it refused %.1f (%.1f invalid messages), want ≥ 0 and none", p.node.ID(), r.Score, r.InvalidMessages)
		}
	}
	if _, err := a.jobs.Cancel(ctx, spec.ID); err != nil {
		t.Error(err)
	}
}
