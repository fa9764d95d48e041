package serve

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The control API's optional node interfaces (MeshIdentity, PeerDenier),
// implemented by the mesh adapter of mesh.go.

// MeshID is the mesh's id (a short hash of its key).
func (m meshNode) MeshID() string { return m.n.MeshID() }

// Deny refuses peer id on this node from now on (mesh.Node.Deny).
func (m meshNode) Deny(id string) error {
	pid, err := peer.Decode(id)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBadPeerID, id)
	}
	if pid == m.n.ID() {
		return ErrDenySelf
	}
	m.n.Deny(pid)
	return nil
}
