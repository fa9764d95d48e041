package pull

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
)

// Puller pulls models into one store from the peers of a mesh node. It is
// safe for concurrent use.
type Puller struct {
	node  *mesh.Node
	store *modelstore.Store
	opts  []Option
}

// NewPuller returns a Puller fetching over n's host into store.
func NewPuller(n *mesh.Node, store *modelstore.Store, opts ...Option) *Puller {
	return &Puller{node: n, store: store, opts: slices.Clone(opts)}
}

// Serve answers pulls from the node's peers out of the store; stop
// unregisters the protocol.
func (p *Puller) Serve() (stop func(), err error) {
	return Serve(p.node.Host(), p.node.Protocol(ProtocolName), p.store, p.opts...)
}

// Pull fetches name at ref from peerID, or, when peerID is "", from the
// live peers whose heartbeats say they hold name, nearest (lowest RTT)
// first.
func (p *Puller) Pull(ctx context.Context, name, ref, peerID string) (Result, error) {
	h, proto := p.node.Host(), p.node.Protocol(ProtocolName)
	if peerID != "" {
		id, err := peer.Decode(peerID)
		if err != nil {
			return Result{Name: name}, fmt.Errorf("peer %q: %w", peerID, err)
		}
		if id == h.ID() {
			return Result{Name: name}, fmt.Errorf("peer %s is this node", id.ShortString())
		}
		return Fetch(ctx, h, proto, id, name, ref, p.store, p.opts...)
	}
	return FetchAny(ctx, h, proto, Holders(p.node.Peers(), name), name, ref, p.store, p.opts...)
}

// Holders returns the ids of the live peers that announce name, lowest RTT
// first (an unknown RTT last), ids that do not parse left out.
func Holders(peers []mesh.PeerInfo, name string) []peer.ID {
	var hs []mesh.PeerInfo
	for _, pi := range peers {
		if pi.Alive && slices.Contains(pi.Models, name) {
			hs = append(hs, pi)
		}
	}
	slices.SortStableFunc(hs, func(a, b mesh.PeerInfo) int {
		ra, rb := a.RTT, b.RTT
		switch {
		case ra <= 0 && rb <= 0:
			return 0
		case ra <= 0:
			return 1
		case rb <= 0:
			return -1
		}
		return cmp.Compare(ra, rb)
	})
	out := make([]peer.ID, 0, len(hs))
	for _, pi := range hs {
		if id, err := peer.Decode(pi.ID); err == nil {
			out = append(out, id)
		}
	}
	return out
}
