package mesh

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerInfo is what a node knows about one peer: the last presence it heard
// from it, plus what it measured itself (LastSeen, RTT).
type PeerInfo struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Role     string   `json:"role"`
	Version  string   `json:"version"`
	Cores    int      `json:"cores"`
	MemBytes uint64   `json:"mem_bytes"`
	Load     float64  `json:"load"`
	Models   []string `json:"models"`
	Jobs     []string `json:"jobs"`
	// Served is what the peer answers queries for (see ServedModel);
	// empty for peers that do not announce it.
	Served   []ServedModel `json:"served,omitempty"`
	Addrs    []string      `json:"addrs"`
	LastSeen time.Time     `json:"last_seen"`
	RTT      time.Duration `json:"rtt_ns"`
	Alive    bool          `json:"alive"`
}

// clone returns a copy that shares no slices with p.
func (p PeerInfo) clone() PeerInfo {
	p.Models = slices.Clone(p.Models)
	p.Jobs = slices.Clone(p.Jobs)
	p.Addrs = slices.Clone(p.Addrs)
	p.Served = cloneServed(p.Served)
	return p
}

// cloneServed copies a served list, versions included.
func cloneServed(in []ServedModel) []ServedModel {
	if in == nil {
		return nil
	}
	out := make([]ServedModel, len(in))
	for i, m := range in {
		m.Versions = slices.Clone(m.Versions)
		out[i] = m
	}
	return out
}

// Event types.
const (
	EventPeerJoined = "peer_joined"
	EventPeerLeft   = "peer_left"

	// ReasonUnresponsive: a connected peer fell silent and did not answer
	// two pings in a row (probe.go), as a hung process does.
	ReasonUnresponsive = "unresponsive"
)

// Event tells subscribers that the peer table changed.
type Event struct {
	Type string    `json:"type"`
	Peer PeerInfo  `json:"peer"`
	Time time.Time `json:"time"`
	// Reason says why a peer left: "timeout", "disconnected", "leaving",
	// "denied", "unresponsive" (ReasonUnresponsive).
	Reason string `json:"reason,omitempty"`
}

// Peers lists the live peers, excluding this node, sorted by id. The slice
// and its contents are copies.
func (n *Node) Peers() []PeerInfo { return n.table.list() }

// Peer returns one live peer.
func (n *Node) Peer(id peer.ID) (PeerInfo, bool) { return n.table.get(id) }

// Subscribe delivers peer_joined / peer_left events from now on. The channel
// is buffered (256); the node never blocks on it, so a subscriber that
// falls behind loses events (see DroppedEvents) and should resync with
// Peers. cancel closes the channel; Close closes all of them.
func (n *Node) Subscribe() (events <-chan Event, cancel func()) { return n.table.subscribe() }

// DroppedEvents counts events lost to slow subscribers.
func (n *Node) DroppedEvents() uint64 { return n.table.dropped.Load() }

type peerEntry struct {
	info PeerInfo
	boot int64
	seq  uint64
	// probing is set while a probe of the silent peer runs, pinging
	// while its first RTT is measured (probe.go).
	probing, pinging bool
}

// tomb remembers a peer that left, so that its own heartbeats still in
// flight (GossipSub keeps recent messages for a few heartbeats and hands
// them to peers that missed them) do not bring it back. The same
// incarnation returns only with a heartbeat well past the last one seen,
// which a live peer sends within a few intervals (tombSeqMargin); a
// restarted peer (a new boot) returns at once; a peer that said it was
// leaving never does. Tombstones are kept for tombTTL.
type tomb struct {
	boot    int64
	seq     uint64
	leaving bool
	at      time.Time
}

// pendingPeer is a peer heard of only through gossip so far (see update).
type pendingPeer struct {
	p           Presence
	first, last time.Time
}

// peerTable holds the live peers. All methods are safe for concurrent use.
type peerTable struct {
	mu         sync.Mutex
	peers      map[peer.ID]*peerEntry
	tombs      map[peer.ID]tomb
	pending    map[peer.ID]pendingPeer
	pendingGap time.Duration
	subs       map[int]chan Event
	nextSub    int
	closed     bool
	dropped    atomic.Uint64
}

func newPeerTable(pendingGap time.Duration) *peerTable {
	return &peerTable{peers: map[peer.ID]*peerEntry{}, tombs: map[peer.ID]tomb{}, pending: map[peer.ID]pendingPeer{},
		pendingGap: pendingGap, subs: map[int]chan Event{}}
}

// update records a heartbeat from id. Stale heartbeats (older incarnation or
// sequence) are ignored. It reports whether the peer is new.
//
// A peer not yet listed and not directly connected is only pending: one
// heartbeat heard through gossip may be an old one of a peer that is gone
// (GossipSub hands recent messages to peers that missed them). It is
// listed once connected (promote) or once a later heartbeat of it arrives
// at least pendingGap after the first.
func (t *peerTable) update(id peer.ID, p Presence, now time.Time, connected bool) (joined bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	e, ok := t.peers[id]
	if ok && (p.Boot < e.boot || (p.Boot == e.boot && p.Seq <= e.seq)) {
		return false
	}
	if !ok {
		if tb, dead := t.tombs[id]; dead {
			if p.Boot < tb.boot || (p.Boot == tb.boot && (tb.leaving || p.Seq <= tb.seq+tombSeqMargin)) {
				return false
			}
		}
		if !connected {
			pe, was := t.pending[id]
			if !was || p.Boot != pe.p.Boot || p.Seq <= pe.p.Seq || now.Sub(pe.first) < t.pendingGap {
				if !was || p.Boot != pe.p.Boot {
					pe = pendingPeer{first: now}
				}
				if p.Seq > pe.p.Seq || p.Boot != pe.p.Boot {
					pe.p = p
				}
				pe.last = now
				t.pending[id] = pe
				return false
			}
		}
		delete(t.pending, id)
		delete(t.tombs, id)
		e = &peerEntry{}
		t.peers[id] = e
	}
	rtt := e.info.RTT
	e.boot, e.seq = p.Boot, p.Seq
	e.info = PeerInfo{
		ID: id.String(), Name: p.Name, Role: p.Role, Version: p.Version,
		Cores: p.Cores, MemBytes: p.Mem, Load: p.Load,
		Models: slices.Clone(p.Models), Jobs: slices.Clone(p.Jobs), Served: cloneServed(p.Served), Addrs: slices.Clone(p.Addrs),
		LastSeen: now, RTT: rtt, Alive: true,
	}
	if !ok {
		t.emitLocked(Event{Type: EventPeerJoined, Peer: e.info.clone(), Time: now})
	}
	return !ok
}

// promote lists a pending peer now that a direct connection shows it is
// there; it reports whether the peer joined.
func (t *peerTable) promote(id peer.ID, now time.Time) bool {
	t.mu.Lock()
	pe, ok := t.pending[id]
	t.mu.Unlock()
	if !ok {
		return false
	}
	return t.update(id, pe.p, now, true)
}

func (t *peerTable) setRTT(id peer.ID, rtt time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.peers[id]; ok {
		e.info.RTT = rtt
	}
}

func (t *peerTable) has(id peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.peers[id]
	return ok
}

// remove drops id, emitting peer_left with reason, and reports whether it
// was there.
func (t *peerTable) remove(id peer.ID, reason string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		return false
	}
	delete(t.peers, id)
	delete(t.pending, id)
	t.tombs[id] = tomb{boot: e.boot, seq: e.seq, at: now}
	info := e.info.clone()
	info.Alive = false
	t.emitLocked(Event{Type: EventPeerLeft, Peer: info, Time: now, Reason: reason})
	return true
}

// forget drops id's tombstone, so any heartbeat of it is welcome again
// (Undeny: the peer was alive all along).
func (t *peerTable) forget(id peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.tombs, id)
	delete(t.pending, id)
}

// expire drops every peer not heard from since before cutoff, or, for
// peers in connected, since before connectedCutoff; it returns the
// peer_left events it emitted.
func (t *peerTable) expire(cutoff, connectedCutoff time.Time, connected map[peer.ID]bool, now time.Time) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Event
	for id, e := range t.peers {
		limit := cutoff
		if connected[id] {
			limit = connectedCutoff
		}
		if e.info.LastSeen.Before(limit) {
			delete(t.peers, id)
			t.tombs[id] = tomb{boot: e.boot, seq: e.seq, at: now}
			info := e.info.clone()
			info.Alive = false
			ev := Event{Type: EventPeerLeft, Peer: info, Time: now, Reason: "timeout"}
			t.emitLocked(ev)
			out = append(out, ev)
		}
	}
	for id, tb := range t.tombs {
		if now.Sub(tb.at) > tombTTL {
			delete(t.tombs, id)
		}
	}
	for id, pe := range t.pending {
		if pe.last.Before(cutoff) {
			delete(t.pending, id)
		}
	}
	return out
}

// leave handles a "leaving" heartbeat: the peer goes unless the table
// already holds a later incarnation of it.
func (t *peerTable) leave(id peer.ID, boot int64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		// Remember the goodbye even for a peer not listed (yet), so a
		// heartbeat of it still in flight does not add it.
		if tb, dead := t.tombs[id]; !dead || tb.boot <= boot {
			t.tombs[id] = tomb{boot: boot, leaving: true, at: now}
		}
		return false
	}
	if e.boot > boot {
		return false
	}
	delete(t.peers, id)
	t.tombs[id] = tomb{boot: e.boot, seq: e.seq, leaving: true, at: now}
	info := e.info.clone()
	info.Alive = false
	t.emitLocked(Event{Type: EventPeerLeft, Peer: info, Time: now, Reason: "leaving"})
	return true
}

// known is the number of peers listed or pending.
func (t *peerTable) known() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.peers) + len(t.pending)
}

func (t *peerTable) list() []PeerInfo {
	t.mu.Lock()
	out := make([]PeerInfo, 0, len(t.peers))
	for _, e := range t.peers {
		out = append(out, e.info.clone())
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func (t *peerTable) get(id peer.ID) (PeerInfo, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok {
		return PeerInfo{}, false
	}
	return e.info.clone(), true
}

func (t *peerTable) emitLocked(ev Event) {
	for _, ch := range t.subs {
		select {
		case ch <- ev:
		default:
			t.dropped.Add(1)
		}
	}
}

func (t *peerTable) subscribe() (<-chan Event, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := make(chan Event, subscriberBuffer)
	if t.closed {
		close(ch)
		return ch, func() {}
	}
	id := t.nextSub
	t.nextSub++
	t.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			if c, ok := t.subs[id]; ok {
				delete(t.subs, id)
				close(c)
			}
		})
	}
}

// close ends every subscription (their channels are closed) and empties
// the table.
func (t *peerTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for id, ch := range t.subs {
		delete(t.subs, id)
		close(ch)
	}
	clear(t.peers)
	clear(t.pending)
}
