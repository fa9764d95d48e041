package mesh

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestProbeSuspectsAndDrops: only connected peers silent past the cutoff
// are probed, one probe at a time; a failed probe drops the peer only when
// no heartbeat arrived meanwhile; an answered one keeps it.
func TestProbeSuspectsAndDrops(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tab := newPeerTable(0)
	pres := func(seq uint64) Presence { return Presence{V: 1, Role: RoleFull, Name: "x", Boot: 1, Seq: seq} }
	quiet, chatty, far := peer.ID("quiet"), peer.ID("chatty"), peer.ID("far")
	tab.update(quiet, pres(1), t0, true)
	tab.update(chatty, pres(1), t0.Add(2*time.Second), true)
	tab.update(far, pres(1), t0, true)
	connected := map[peer.ID]bool{quiet: true, chatty: true} // far: only heard through gossip now

	cut := t0.Add(time.Second)
	s := tab.suspects(cut, connected)
	if len(s) != 1 || s[0].id != quiet || !s[0].seen.Equal(t0) {
		t.Fatalf("suspects = %v, want just quiet", s)
	}
	if again := tab.suspects(cut, connected); len(again) != 0 {
		t.Fatalf("a peer being probed was chosen again: %v", again)
	}
	// It answered: kept, and may be probed again later.
	if tab.probed(quiet, t0, true, t0.Add(3*time.Second)) || !tab.has(quiet) {
		t.Fatal("a peer that answered its probe was dropped")
	}
	if s := tab.suspects(cut, connected); len(s) != 1 {
		t.Fatalf("after its probe ended quiet is not probed again: %v", s)
	}
	// A heartbeat arrived while the probe ran: a failure does not count.
	tab.update(quiet, pres(2), t0.Add(3*time.Second), true)
	if tab.probed(quiet, t0, false, t0.Add(4*time.Second)) || !tab.has(quiet) {
		t.Fatal("a peer that sent a heartbeat during its probe was dropped")
	}

	events, cancel := tab.subscribe()
	defer cancel()
	s = tab.suspects(t0.Add(5*time.Second), connected)
	if len(s) != 2 {
		t.Fatalf("suspects = %v, want quiet and chatty", s)
	}
	for _, x := range s {
		if !tab.probed(x.id, x.seen, false, t0.Add(6*time.Second)) {
			t.Fatalf("%s failed its probe but stays", x.id)
		}
		ev := <-events
		if ev.Type != EventPeerLeft || ev.Reason != ReasonUnresponsive || ev.Peer.ID != x.id.String() {
			t.Fatalf("event %+v, want %s left unresponsive", ev, x.id)
		}
	}
	if !tab.has(far) {
		t.Fatal("a peer not directly connected was dropped by probes")
	}
	if tab.probed(quiet, t0, false, t0.Add(7*time.Second)) {
		t.Fatal("a probe of a peer already gone reported a drop")
	}
}
