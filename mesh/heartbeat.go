package mesh

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pbnjay/memory"
)

// joinPresence joins the presence topic with its validator; the
// subscription feeds readPresence, the event handler watchTopicPeers.
func (n *Node) joinPresence() (*pubsub.Subscription, *pubsub.TopicEventHandler, error) {
	if err := n.ps.RegisterTopicValidator(n.Topic(presenceTopic), n.validatePresence); err != nil {
		return nil, nil, err
	}
	var err error
	n.presence, err = n.ps.Join(n.Topic(presenceTopic))
	if err != nil {
		return nil, nil, err
	}
	sub, err := n.presence.Subscribe()
	if err != nil {
		return nil, nil, err
	}
	topicEvents, err := n.presence.EventHandler()
	if err != nil {
		return nil, nil, err
	}
	return sub, topicEvents, nil
}

// Self is this node as its peers see it: the content of its latest
// heartbeat (Models, Jobs and Load as of then), with current addresses.
// LastSeen is zero (it means nothing for the node itself) and RTT 0.
func (n *Node) Self() PeerInfo {
	n.lastExtraMu.Lock()
	p := n.lastPresence
	n.lastExtraMu.Unlock()
	return PeerInfo{
		ID: n.h.ID().String(), Name: p.Name, Role: p.Role, Version: p.Version,
		Cores: p.Cores, MemBytes: p.Mem, Load: p.Load, Models: p.Models, Jobs: p.Jobs,
		Served: cloneServed(p.Served), Addrs: n.Addrs(), Alive: true,
	}
}

// presenceNow builds this node's heartbeat.
func (n *Node) presenceNow(leaving bool) Presence {
	p := Presence{
		V: PresenceVersion, Name: n.cfg.Name, Role: n.cfg.Role, Version: n.cfg.Version,
		Cores: runtime.NumCPU(), Mem: memory.TotalMemory(), Load: systemLoad(),
		Boot: n.boot, Seq: n.seq.Add(1), Leaving: leaving,
	}
	if n.cfg.PresenceExtra != nil {
		x := n.cfg.PresenceExtra()
		p.Models = trimList(x.Models)
		p.Jobs = trimList(x.Jobs)
		p.Served = trimServed(x.Served)
		if x.Load > 0 && x.Load <= maxLoad {
			p.Load = x.Load
		}
	}
	for _, a := range n.h.Addrs() {
		if len(p.Addrs) == maxPresenceAddrs {
			break
		}
		if s := a.String(); len(s) <= maxAddrLen {
			p.Addrs = append(p.Addrs, s)
		}
	}
	// Served is the one part that may make a heartbeat outgrow the limit:
	// cut it (from the end) rather than lose the heartbeat.
	for len(p.Served) > 0 {
		b, err := json.Marshal(p)
		if err != nil || len(b) <= MaxPresenceSize {
			break
		}
		p.Served = p.Served[:len(p.Served)/2]
	}
	// Stored once, whole: Self must never see a heartbeat's Served before
	// it was cut (two heartbeats built at once, the test's and the loop's,
	// once showed 64 served models beside a heartbeat of 16).
	n.lastExtraMu.Lock()
	n.lastPresence = p
	n.lastExtraMu.Unlock()
	return p
}

// trimServed keeps the served models that pass validation, at most
// maxListLen of them, as copies.
func trimServed(in []ServedModel) []ServedModel {
	var out []ServedModel
	for _, m := range in {
		if len(out) == maxListLen {
			break
		}
		m.Versions = slices.Clone(m.Versions)
		if m.validate() == nil {
			out = append(out, m)
		}
	}
	return out
}

// trimList keeps what fits in a presence message; upper layers with more
// models or jobs than that must announce them on their own topics.
func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if len(out) == maxListLen {
			break
		}
		if s != "" && checkText("", s, maxItemLen) == nil {
			out = append(out, s)
		}
	}
	return out
}

// systemLoad is the 1-minute load average per core, 0 where unknown.
func systemLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 || v > 1e5 {
		return 0
	}
	return v / float64(runtime.NumCPU())
}

// heartbeatLoop builds this node's heartbeat every configured interval
// (HeartbeatInterval) and publishes it when its content changed (a job,
// a model, an address: what peers act on), when it was kicked, or when the
// refresh interval has passed: HeartbeatInterval up to cadenceFrom peers,
// longer beyond (cadenceScale). Every tick it also drops the peers that
// have been silent too long and probes the suspect ones.
func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTimer(n.cfg.HeartbeatInterval)
	defer t.Stop()
	var last time.Time // last publish
	var lastKey string // content of the last heartbeat published
	kicked := true     // the first heartbeat goes at once
	for {
		scale := n.cadenceScale()
		every := time.Duration(scale * float64(n.cfg.HeartbeatInterval))
		n.every.Store(int64(every))
		timeout := time.Duration(scale * float64(n.cfg.PeerTimeout))
		now := time.Now()
		p := n.presenceNow(false)
		key := p.contentKey()
		if kicked || key != lastKey || now.Sub(last) >= every-n.cfg.HeartbeatInterval/2 {
			last, lastKey = now, key
			n.publishPresence(p)
		}
		kicked = false
		// A peer still directly connected gets twice the timeout: on a
		// starved machine heartbeats arrive late, and dropping a peer whose
		// connection is fine only makes it flap. A dead one loses the
		// connection and goes at once (onDisconnect).
		connected := map[peer.ID]bool{}
		for _, p := range n.h.Network().Peers() {
			connected[p] = true
		}
		for _, ev := range n.table.expire(now.Add(-timeout), now.Add(-2*timeout), connected, now) {
			n.log.Info("peer left", "peer", ev.Peer.ID, "name", ev.Peer.Name, "reason", "timeout")
		}
		n.probeSilent(now, connected, scale)
		n.pingNew(connected)
		t.Reset(n.cfg.HeartbeatInterval)
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
			// Early heartbeats (kicks) are spaced at least half the
			// refresh interval apart, so a burst of joins costs a few
			// messages, not one per join.
			if wait := every/2 - time.Since(last); wait > 0 {
				select {
				case <-n.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			kicked = true
		}
	}
}

// publishPresence sends p on the presence topic.
func (n *Node) publishPresence(p Presence) {
	p.At = time.Now().UnixNano()
	b, err := EncodePresence(p)
	if err != nil {
		n.log.Error("cannot encode presence", "err", err)
		return
	}
	if err := n.presence.Publish(n.ctx, b); err != nil && n.ctx.Err() == nil {
		n.log.Debug("presence publish failed", "err", err)
	}
}

// HeartbeatEvery is the interval at which this node refreshes its
// heartbeat now: HeartbeatInterval on a mesh of up to cadenceFrom peers,
// proportionally longer beyond (a heartbeat whose content changed goes at
// once whatever the interval).
func (n *Node) HeartbeatEvery() time.Duration {
	if d := time.Duration(n.every.Load()); d > 0 {
		return d
	}
	return n.cfg.HeartbeatInterval
}

// cadenceFrom is the mesh size up to which heartbeats keep the configured
// interval. Every peer hears every heartbeat (one presence topic): each
// costs every peer a signature check and a few copies sent and received
// (GossipSub's degree), about 0.4 ms of CPU here in all. Past cadenceFrom
// peers the interval, the peer timeout and the silence before a probe
// grow by one interval per largeMeshRate more peers, so a peer of a large
// mesh hears about largeMeshRate heartbeats per interval: measured at 100
// peers in one process on 2 cores, the earlier n/24 growth (24 per
// interval) kept the cores busy and the mesh never settled. The cost is a
// slower drop of a silent peer that is not directly connected (a dead
// one's connections close at once; a hung one is probed); docs/scale.md
// describes what replaces the full view on larger meshes.
const (
	cadenceFrom   = 24
	largeMeshRate = 6
)

// cadenceScale is the factor applied to the heartbeat interval, the peer
// timeout and the probe delay for the current mesh size (at least 1):
// the peers listed and those heard of but not listed yet, so that a mesh
// in the middle of a mass join already paces itself.
func (n *Node) cadenceScale() float64 {
	return cadenceScaleFor(n.table.known() + 1)
}

// cadenceScaleFor is cadenceScale for a mesh of size peers: 1 up to
// cadenceFrom, then growing by 1 every largeMeshRate peers (100 peers:
// 13.7).
func cadenceScaleFor(size int) float64 {
	return max(1, 1+float64(size-cadenceFrom)/largeMeshRate)
}

// kickHeartbeat asks heartbeatLoop for an early heartbeat; kicks that
// arrive while one is pending merge into it.
func (n *Node) kickHeartbeat() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// watchTopicPeers asks for an early heartbeat whenever a peer joins the
// presence topic (a new connection whose subscriptions just arrived), so
// that it learns of this node at once instead of up to one interval later.
func (n *Node) watchTopicPeers(h *pubsub.TopicEventHandler) {
	defer n.wg.Done()
	defer h.Cancel()
	for {
		ev, err := h.NextPeerEvent(n.ctx)
		if err != nil {
			return
		}
		if ev.Type == pubsub.PeerJoin {
			n.kickHeartbeat()
		}
	}
}

// validatePresence is the presence topic's validator: it drops heartbeats
// from peers the gater refuses and decodes the rest once, for readPresence.
func (n *Node) validatePresence(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	origin := m.GetFrom()
	if !n.gater.allowed(origin) {
		return pubsub.ValidationIgnore
	}
	p, err := DecodePresence(m.Data)
	if err != nil {
		n.log.Debug("presence rejected", "from", origin.String(), "err", err)
		return pubsub.ValidationReject
	}
	m.ValidatorData = p
	return pubsub.ValidationAccept
}

// readPresence hands every other peer's validated heartbeat to
// handlePresence.
func (n *Node) readPresence(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		m, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		origin := m.GetFrom()
		if origin == n.h.ID() {
			continue
		}
		p, ok := m.ValidatorData.(Presence)
		if !ok {
			continue
		}
		n.handlePresence(origin, p)
	}
}

// directPeers is how many connections presence makes this node keep by
// dialling the peers it hears of: all of them on a mesh of up to
// cadenceFrom peers (the fastest join and failure detection), about a
// GossipSub degree beyond (largeMeshDegree): there the others are reached
// through gossip and each connection would cost both ends goroutines,
// buffers and a copy of every message.
func (n *Node) directPeers() int {
	if n.table.known() < cadenceFrom {
		return maxDirectPeers
	}
	return largeMeshDegree
}

// freshWindow is how recent a heartbeat heard through gossip must be for
// its sender to be listed at once: half a heartbeat interval, at most
// maxFreshWindow. GossipSub hands out old messages (IHAVE/IWANT) at its
// own heartbeat, a second apart, so a replay is rarely this fresh, and one
// that is comes from a peer alive that recently.
func (n *Node) freshWindow() time.Duration {
	return min(n.cfg.HeartbeatInterval/2, maxFreshWindow)
}

// handlePresence records a peer's heartbeat in the table and, when the
// peer is not directly connected, dials it.
func (n *Node) handlePresence(id peer.ID, p Presence) {
	now := time.Now()
	if p.Leaving {
		if n.table.leave(id, p.Boot, now) {
			n.log.Info("peer left", "peer", id.String(), "name", p.Name, "reason", "leaving")
		}
		return
	}
	connected := n.h.Network().Connectedness(id) == network.Connected
	// A fresh heartbeat (published within freshWindow, by our clock) is
	// no replay: list its sender at once, as if connected.
	fresh := p.At > 0 && now.Sub(time.Unix(0, p.At)).Abs() <= n.freshWindow()
	if n.table.update(id, p, now, connected || fresh) {
		n.log.Info("peer joined", "peer", id.String(), "name", p.Name, "role", p.Role)
		n.kickHeartbeat()
	}
	if connected {
		return
	}
	// Dial peers learned from gossip directly: a small mesh that leans on
	// one bootstrap peer hears of everybody much later (DESIGN, Known traps).
	var addrs []ma.Multiaddr
	for _, s := range p.Addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		n.h.Peerstore().AddAddrs(id, addrs, peerstore.TempAddrTTL)
	}
	if len(n.h.Network().Peers()) >= n.directPeers() {
		return
	}
	// Both peers usually learn of each other at the same moment; if both
	// dialled, every pair would pay for two handshakes. The lower id dials
	// now, the higher one only if no connection has appeared a heartbeat
	// later (the lower one may be unable to reach it).
	if n.h.ID() < id {
		n.dial(id, false)
		return
	}
	n.dialLater(id)
}
