package mesh

import (
	"sync"

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
