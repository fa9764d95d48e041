package serve

import (
	"math"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// The mesh reports joins and leaves as events, but RTT and load only as
// figures in its peer table. peerDiff compares polls of that table and
// makes peer_updated events of what changed enough to be worth a redraw,
// at most one per peer per minGap, so a console sees live figures without
// a flood: RTT jitters by microseconds on every ping.
const (
	// rttChange is the relative RTT change that counts (with rttFloor).
	rttChange = 0.2
	// rttFloor is the smallest absolute RTT change that counts: loopback
	// RTTs of 50 µs that double are still noise.
	rttFloor = 500 * time.Microsecond
	// loadChange is the smallest load-average change that counts.
	loadChange = 0.1
	// defaultPeerUpdateEvery is how often the hub polls the peer table.
	defaultPeerUpdateEvery = 2 * time.Second
)

type peerDiff struct {
	minGap time.Duration
	last   map[string]peerSeen
}

// peerSeen is what the last event (or baseline) said about a peer.
type peerSeen struct {
	p    controlapi.Peer
	sent time.Time
}

func newPeerDiff(minGap time.Duration) *peerDiff {
	return &peerDiff{minGap: minGap, last: map[string]peerSeen{}}
}

// saw records a peer as an event already showed it.
func (d *peerDiff) saw(p controlapi.Peer) {
	d.last[p.ID] = peerSeen{p: p, sent: d.last[p.ID].sent}
}

// changes returns a peer_updated event for every peer of ps that changed
// enough since the last event about it; peers not in ps are forgotten. The
// first sight of a peer is a baseline, not an event (peer_joined told it).
func (d *peerDiff) changes(ps []controlapi.Peer, now time.Time) []controlapi.Event {
	var out []controlapi.Event
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		seen[p.ID] = true
		old, ok := d.last[p.ID]
		if !ok {
			d.last[p.ID] = peerSeen{p: p}
			continue
		}
		if !changed(old.p, p) || now.Sub(old.sent) < d.minGap {
			continue
		}
		d.last[p.ID] = peerSeen{p: p, sent: now}
		q := p
		out = append(out, controlapi.Event{Type: controlapi.EventPeerUpdated, Time: now, Peer: &q})
	}
	for id := range d.last {
		if !seen[id] {
			delete(d.last, id)
		}
	}
	return out
}

// changed says whether b differs from a in a way a reader notices.
func changed(a, b controlapi.Peer) bool {
	if a.Alive != b.Alive || a.Name != b.Name || a.Role != b.Role {
		return true
	}
	if !slices.Equal(a.Models, b.Models) || !slices.Equal(a.Jobs, b.Jobs) || !servedEqual(a.Served, b.Served) {
		return true
	}
	if math.Abs(a.Load-b.Load) >= loadChange {
		return true
	}
	d := a.RTT - b.RTT
	if d < 0 {
		d = -d
	}
	return d >= rttFloor && float64(d) >= rttChange*float64(max(a.RTT, b.RTT))
}

func servedEqual(a, b []controlapi.ServedModel) bool {
	return slices.EqualFunc(a, b, func(x, y controlapi.ServedModel) bool {
		return x.Name == y.Name && x.Int8 == y.Int8 && slices.Equal(x.Versions, y.Versions)
	})
}
