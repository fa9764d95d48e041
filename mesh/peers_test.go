package mesh

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestPeerTableOrderingAndTombstones(t *testing.T) {
	id := peer.ID("peer-a")
	now := time.Unix(1000, 0)
	pres := func(boot int64, seq uint64) Presence {
		return Presence{V: 1, Role: RoleFull, Name: "a", Boot: boot, Seq: seq}
	}
	tab := newPeerTable(250 * time.Millisecond)
	ev, cancel := tab.subscribe()
	defer cancel()
	steps := []struct {
		name   string
		do     func() bool
		listed bool
	}{
		{"first heartbeat joins", func() bool { return tab.update(id, pres(1, 5), now, true) }, true},
		{"older seq ignored", func() bool { return tab.update(id, pres(1, 4), now, true) }, true},
		{"timeout removes", func() bool { tab.expire(now.Add(time.Second), now.Add(time.Second), nil, now); return false }, false},
		{"stale heartbeat in flight does not revive", func() bool { return tab.update(id, pres(1, 7), now, true) }, false},
		{"much later heartbeat revives", func() bool { return tab.update(id, pres(1, 9), now, true) }, true},
		{"leaving removes", func() bool { return tab.leave(id, 1, now) }, false},
		{"same incarnation never returns after leaving", func() bool { return tab.update(id, pres(1, 100), now, true) }, false},
		{"older incarnation ignored", func() bool { return tab.update(id, pres(0, 100), now, true) }, false},
		{"restart (new boot) returns at once", func() bool { return tab.update(id, pres(2, 1), now, true) }, true},
		{"disconnect removes", func() bool { return tab.remove(id, "disconnected", now) }, false},
		{"forget (undeny) lets it back at once", func() bool { tab.forget(id); return tab.update(id, pres(2, 2), now, true) }, true},
	}
	for _, s := range steps {
		s.do()
		if got := tab.has(id); got != s.listed {
			t.Fatalf("%s: listed=%v, want %v", s.name, got, s.listed)
		}
	}
	want := []string{EventPeerJoined, EventPeerLeft, EventPeerJoined, EventPeerLeft, EventPeerJoined, EventPeerLeft, EventPeerJoined}
	for i, w := range want {
		select {
		case e := <-ev:
			if e.Type != w {
				t.Fatalf("event %d: %s, want %s", i, e.Type, w)
			}
		default:
			t.Fatalf("event %d (%s) missing", i, w)
		}
	}
}

func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	tab := newPeerTable(250 * time.Millisecond)
	_, cancel := tab.subscribe() // never read
	defer cancel()
	now := time.Now()
	for i := range subscriberBuffer + 10 {
		tab.update(peer.ID(rune('a'+i%26))+peer.ID(rune(i)), Presence{V: 1, Role: RoleFull, Boot: 1, Seq: 1}, now, true)
	}
	if tab.dropped.Load() == 0 {
		t.Fatal("no drops counted")
	}
}

func TestPendingPeerFromGossip(t *testing.T) {
	id := peer.ID("peer-g")
	t0 := time.Unix(1000, 0)
	pres := func(seq uint64) Presence { return Presence{V: 1, Role: RoleFull, Boot: 1, Seq: seq} }
	tab := newPeerTable(250 * time.Millisecond)
	// A burst of old heartbeats (one IWANT answer) does not list a peer.
	tab.update(id, pres(1), t0, false)
	tab.update(id, pres(2), t0.Add(time.Millisecond), false)
	if tab.has(id) {
		t.Fatal("listed from a burst of gossip")
	}
	// A later heartbeat, spaced like a live peer's, does.
	if !tab.update(id, pres(3), t0.Add(time.Second), false) || !tab.has(id) {
		t.Fatal("live peer heard only through gossip not listed")
	}
	// A direct connection lists a pending peer at once.
	id2 := peer.ID("peer-h")
	tab.update(id2, pres(1), t0, false)
	if !tab.promote(id2, t0) || !tab.has(id2) {
		t.Fatal("connected pending peer not promoted")
	}
	// Pending entries of peers that go quiet expire.
	id3 := peer.ID("peer-i")
	tab.update(id3, pres(1), t0, false)
	tab.expire(t0.Add(time.Second), t0.Add(time.Second), nil, t0.Add(2*time.Second))
	if tab.promote(id3, t0.Add(2*time.Second)) {
		t.Fatal("expired pending peer promoted")
	}
}
