package mesh

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// gater is the connection gater. The pre-shared key proves membership of
// the mesh, not identity; the gater adds per-peer decisions on top: a deny
// list changed at run time and an optional allow-list. It is consulted on
// every dial and after the security handshake, when the peer id is known.
type gater struct {
	mu    sync.RWMutex
	deny  map[peer.ID]struct{}
	allow map[peer.ID]struct{} // nil: everybody not denied
}

func newGater() *gater { return &gater{deny: map[peer.ID]struct{}{}} }

func (g *gater) allowed(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if _, ok := g.deny[p]; ok {
		return false
	}
	if g.allow != nil {
		_, ok := g.allow[p]
		return ok
	}
	return true
}

func (g *gater) InterceptPeerDial(p peer.ID) bool                 { return g.allowed(p) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allowed(p) }
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p)
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Deny refuses id from now on: its connections are closed, dials either way
// are refused by the gater, its gossip is ignored and it leaves the peer
// table.
func (n *Node) Deny(id peer.ID) {
	if id == n.h.ID() {
		return
	}
	n.gater.mu.Lock()
	n.gater.deny[id] = struct{}{}
	n.gater.mu.Unlock()
	_ = n.h.Network().ClosePeer(id)
	n.table.remove(id, "denied", time.Now())
}

// Undeny lifts Deny and dials id again if its address is known.
func (n *Node) Undeny(id peer.ID) {
	n.gater.mu.Lock()
	delete(n.gater.deny, id)
	n.gater.mu.Unlock()
	n.table.forget(id)
	if n.gater.allowed(id) && len(n.h.Peerstore().Addrs(id)) > 0 {
		n.dial(id, true)
	}
}

// SetAllowList admits only the listed peers (the deny list still applies).
// nil lifts the allow-list; an empty non-nil slice admits nobody. Peers
// outside the list are disconnected and leave the peer table.
func (n *Node) SetAllowList(ids []peer.ID) {
	n.gater.mu.Lock()
	if ids == nil {
		n.gater.allow = nil
	} else {
		n.gater.allow = make(map[peer.ID]struct{}, len(ids))
		for _, id := range ids {
			n.gater.allow[id] = struct{}{}
		}
	}
	n.gater.mu.Unlock()
	for _, id := range ids {
		n.table.forget(id)
	}
	now := time.Now()
	for _, p := range n.h.Network().Peers() {
		if !n.gater.allowed(p) {
			_ = n.h.Network().ClosePeer(p)
		}
	}
	for _, info := range n.table.list() {
		if id, err := peer.Decode(info.ID); err == nil && !n.gater.allowed(id) {
			n.table.remove(id, "denied", now)
		}
	}
}
