package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// received collects the messages a subscription delivers.
type received struct {
	mu   sync.Mutex
	msgs map[string]peer.ID
	more chan struct{}
}

func collect(t *testing.T, ctx context.Context, top *pubsub.Topic) *received {
	t.Helper()
	sub, err := top.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	r := &received{msgs: map[string]peer.ID{}, more: make(chan struct{}, 1)}
	go func() {
		defer sub.Cancel()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.msgs[string(m.Data)] = m.GetFrom()
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	return r
}

func (r *received) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.msgs[s]
	return ok
}

// waitFor waits until every message of want has arrived.
func (r *received) waitFor(ctx context.Context, want ...string) error {
	for {
		missing := slices.DeleteFunc(slices.Clone(want), r.has)
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-r.more:
		case <-ctx.Done():
			return fmt.Errorf("never received %v", missing)
		}
	}
}

// waitScore polls n's score of id until ok says it is right.
func waitScore(ctx context.Context, n *Node, id peer.ID, ok func(float64) bool) (float64, error) {
	for {
		s, have := n.PeerScore(id)
		if have && ok(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, errors.New("score never got there")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestInvalidMessagesScoreDown: a member (right key) that publishes
// messages the topic validator rejects is scored down by the honest peers
// (P4) until they graylist it: a valid message it sends afterwards is
// dropped, while the honest peers' messages keep arriving and they score
// each other at zero or above.
func TestInvalidMessagesScoreDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key := testKey(t, 11)
	a := startNode(t, key, "a")
	b := startNode(t, key, "b", a.Addrs()[0])
	evil := startNode(t, key, "evil", a.Addrs()[0], b.Addrs()[0])
	waitPeers(t, a, 10*time.Second, b.ID(), evil.ID())
	waitPeers(t, b, 10*time.Second, a.ID(), evil.ID())

	valid := func(_ peer.ID, data []byte) error {
		if !strings.HasPrefix(string(data), "ok ") {
			return errors.New("not ok")
		}
		return nil
	}
	ta, err := a.JoinTopic("t", valid)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.JoinTopic("t", valid)
	if err != nil {
		t.Fatal(err)
	}
	// The attacker joins the topic without a validator, so its own router
	// lets its invalid messages out.
	te, err := evil.PubSub().Join(evil.Topic("t"))
	if err != nil {
		t.Fatal(err)
	}
	ra := collect(t, ctx, ta)
	collect(t, ctx, tb)
	rEvil := collect(t, ctx, te)
	// Wait until every peer has seen the others' subscriptions.
	for _, w := range []struct {
		top  *pubsub.Topic
		want []peer.ID
	}{{ta, []peer.ID{b.ID(), evil.ID()}}, {tb, []peer.ID{a.ID(), evil.ID()}}, {te, []peer.ID{a.ID(), b.ID()}}} {
		for !containsAll(w.top.ListPeers(), w.want) {
			select {
			case <-ctx.Done():
				t.Fatalf("topic peers %v, want %v", w.top.ListPeers(), w.want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	// Honest traffic reaches everybody, the attacker too, at first.
	if err := tb.Publish(ctx, []byte("ok before")); err != nil {
		t.Fatal(err)
	}
	if err := ra.waitFor(ctx, "ok before"); err != nil {
		t.Fatal(err)
	}
	if err := rEvil.waitFor(ctx, "ok before"); err != nil {
		t.Fatal(err)
	}

	for i := range 40 {
		if err := te.Publish(ctx, fmt.Appendf(nil, "garbage %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*Node{a, b} {
		s, err := waitScore(ctx, n, evil.ID(), func(s float64) bool { return s < scoreGraylistThreshold })
		if err != nil {
			t.Fatalf("%s scores the attacker %.1f after 40 invalid messages, want below %d", n.cfg.Name, s, scoreGraylistThreshold)
		}
		t.Logf("%s scores the attacker %.0f", n.cfg.Name, s)
	}
	// Graylisted: even a valid message of the attacker is dropped, while
	// the honest ones still get through.
	if err := te.Publish(ctx, []byte("ok from evil")); err != nil {
		t.Fatal(err)
	}
	var after []string
	for i := range 5 {
		m := fmt.Sprintf("ok after %d", i)
		after = append(after, m)
		if err := tb.Publish(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ra.waitFor(ctx, after...); err != nil {
		t.Fatalf("honest delivery stopped: %v", err)
	}
	if ra.has("ok from evil") {
		t.Error("a graylisted peer's message was delivered")
	}
	for i := range 40 {
		if ra.has(fmt.Sprintf("garbage %d", i)) {
			t.Fatalf("invalid message %d delivered", i)
		}
	}
	if s, ok := a.PeerScore(b.ID()); !ok || s < 0 {
		t.Errorf("a scores honest b %.2f (known %v), want ≥ 0", s, ok)
	}
	// The attacker is out of a's topic mesh: pruned peers are no longer
	// in the mesh (TimeInMesh counts only while grafted). The router prunes
	// negative scores on its heartbeat (every second).
	if _, err := waitScore(ctx, a, evil.ID(), func(float64) bool { return !a.inTopicMesh(evil.ID(), a.Topic("t")) }); err != nil {
		t.Error("the attacker is still in a's mesh of the topic")
	}
}

func containsAll(have, want []peer.ID) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// inTopicMesh says whether the last score snapshot shows id grafted in
// topic's mesh.
func (n *Node) inTopicMesh(id peer.ID, topic string) bool {
	n.scores.mu.Lock()
	defer n.scores.mu.Unlock()
	s, ok := n.scores.scores[id]
	if !ok {
		return false
	}
	ts, ok := s.Topics[topic]
	return ok && ts.TimeInMesh > 0
}

// TestDeniedPeerGraylisted: a denied peer scores scoreDenied (P5) plus at
// most the topics' capped positive part (time in a's mesh, if it was
// grafted before the denial: -999.99 was seen), below the graylist
// threshold.
func TestDeniedPeerGraylisted(t *testing.T) {
	key := testKey(t, 12)
	a := startNode(t, key, "a")
	b := startNode(t, key, "b", a.Addrs()[0])
	waitPeers(t, a, 10*time.Second, b.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := waitScore(ctx, a, b.ID(), func(s float64) bool { return s >= 0 }); err != nil {
		t.Fatal("a never scored b")
	}
	a.Deny(b.ID())
	// The router keeps a disconnected peer's score (RetainScore), so the
	// snapshot of b shows the denial within a second.
	s, err := waitScore(ctx, a, b.ID(), func(s float64) bool { return s <= scoreDenied+topicScoreCap })
	if err != nil {
		t.Fatalf("a scores denied b %.2f, want ≤ %d", s, scoreDenied+topicScoreCap)
	}
	if s >= scoreGraylistThreshold {
		t.Fatalf("denied b scores %.2f, not graylisted (%d)", s, scoreGraylistThreshold)
	}
}
