package mesh

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// A peer whose process hangs (SIGSTOP, a stuck machine) keeps its TCP
// connections up: the kernel still acknowledges. Its heartbeats stop, but
// a connected peer gets twice PeerTimeout before it is dropped (so that a
// merely starved peer does not flap), which made a hung peer linger about
// 11 s. memberlist's SWIM, the anchor, suspects a silent member and probes
// it with a deadline; we do the same with libp2p ping on the open
// connection: a connected peer silent for suspectAfter gets two pings in a
// row, each bounded by probeTimeout, and is dropped ("unresponsive") when
// both fail and no heartbeat came meanwhile. A peer that answers keeps
// the doubled timeout. With the defaults (1 s heartbeats, 5 s timeout) a
// hung peer goes 4–5 s after its last heartbeat.
//
// The ping handler answers on its own stream and goroutine, so a peer
// that is slow to train or to publish still answers within a second;
// needing two failures in a row keeps one lost probe from dropping it.
// (SWIM's indirect probes through other members guard against the
// prober's own link being at fault; here the prober's link is the one the
// peer's traffic to us would use anyway.)

// suspectAfter is how long a connected peer may be silent before it is
// probed; probeTimeout bounds each ping, never below minProbeTimeout so
// that the short timeouts of tests on a loaded machine do not turn a slow
// answer into a drop.
func (c *Config) suspectAfter() time.Duration { return c.PeerTimeout * 2 / 5 }
func (c *Config) probeTimeout() time.Duration { return max(c.PeerTimeout/5, minProbeTimeout) }

const minProbeTimeout = 500 * time.Millisecond

// probeSilent starts a probe of each connected peer silent since before
// now-suspectAfter that is not being probed already.
// On a mesh larger than cadenceFrom, heartbeats are scale times as far
// apart, and so is the silence that makes a peer suspect.
func (n *Node) probeSilent(now time.Time, connected map[peer.ID]bool, scale float64) {
	after := time.Duration(scale * float64(n.cfg.suspectAfter()))
	for _, s := range n.table.suspects(now.Add(-after), connected) {
		n.spawn(func() { n.probe(s.id, s.seen, scale) })
	}
}

// probe pings id twice at most; when neither answers and no heartbeat of
// id arrived since seen, id is dropped. Each ping's deadline grows with
// the mesh (scale, as the heartbeat interval does): a large mesh in one
// process answers pings late while it joins, and a peer dropped as
// unresponsive then needs several heartbeats to come back (tombstones).
func (n *Node) probe(id peer.ID, seen time.Time, scale float64) {
	alive := false
	for range 2 {
		if rtt, ok := n.pingOnce(id, time.Duration(scale*float64(n.cfg.probeTimeout()))); ok {
			n.table.setRTT(id, rtt)
			alive = true
			break
		}
		if n.ctx.Err() != nil {
			break
		}
	}
	if n.table.probed(id, seen, alive, time.Now()) {
		n.log.Info("peer left", "peer", id.String(), "reason", ReasonUnresponsive)
	}
}

// pingOnce measures one round trip to id within timeout.
func (n *Node) pingOnce(id peer.ID, timeout time.Duration) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	r, ok := <-ping.Ping(ctx, n.h, id)
	if !ok || r.Error != nil {
		return 0, false
	}
	return r.RTT, true
}

// maxNewPings bounds the peers without an RTT that one heartbeat pings:
// a peer that joins shows its RTT within a heartbeat, and a mesh of
// twenty starting at once does not open 380 ping streams in its first
// second (measured: that slowed its convergence on a loaded machine).
const maxNewPings = 4

// pingNew pings up to maxNewPings connected peers that have no RTT yet,
// so the peers table shows it within a heartbeat of the join rather than
// at the next round of pingLoop.
func (n *Node) pingNew(connected map[peer.ID]bool) {
	for _, id := range n.table.unmeasured(connected, maxNewPings) {
		n.spawn(func() {
			rtt, ok := n.pingOnce(id, max(n.cfg.HeartbeatInterval, time.Second))
			n.table.measured(id, rtt, ok)
		})
	}
}

// unmeasured marks up to limit connected peers with no RTT, and no ping of
// that kind under way, as being pinged, and returns them.
func (t *peerTable) unmeasured(connected map[peer.ID]bool, limit int) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []peer.ID
	for id, e := range t.peers {
		if len(out) == limit {
			break
		}
		if connected[id] && e.info.RTT <= 0 && !e.pinging {
			e.pinging = true
			out = append(out, id)
		}
	}
	return out
}

// measured records the outcome of a ping started by unmeasured.
func (t *peerTable) measured(id peer.ID, rtt time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, found := t.peers[id]; found {
		e.pinging = false
		if ok {
			e.info.RTT = rtt
		}
	}
}

// suspect is a peer chosen for a probe, with the heartbeat time it was
// silent since.
type suspect struct {
	id   peer.ID
	seen time.Time
}

// suspects marks the connected peers last heard before silentSince and not
// yet being probed as probing, and returns them.
func (t *peerTable) suspects(silentSince time.Time, connected map[peer.ID]bool) []suspect {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []suspect
	for id, e := range t.peers {
		if connected[id] && !e.probing && e.info.LastSeen.Before(silentSince) {
			e.probing = true
			out = append(out, suspect{id, e.info.LastSeen})
		}
	}
	return out
}

// probed records a probe's outcome. A peer that did not answer and sent no
// heartbeat since seen is dropped (peer_left, "unresponsive"); probed says
// whether it was.
func (t *peerTable) probed(id peer.ID, seen time.Time, alive bool, now time.Time) bool {
	t.mu.Lock()
	e, ok := t.peers[id]
	if !ok {
		t.mu.Unlock()
		return false
	}
	e.probing = false
	drop := !alive && e.info.LastSeen.Equal(seen)
	t.mu.Unlock()
	if !drop {
		return false
	}
	return t.remove(id, ReasonUnresponsive, now)
}
