package serve

import (
	"errors"
	"math"
	"net/http"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// MeshIdentity is an optional interface of a Node: the mesh id Self
// reports. FromMesh's node has it, and WithJobEvents passes it on.
type MeshIdentity interface {
	MeshID() string
}

// PeerDenier is an optional interface of a Node: POST
// /api/v1/peers/{id}/deny calls Deny. It fails with ErrBadPeerID for an id
// that is not a peer id, ErrDenySelf for the node's own and
// ErrNotSupported when the node cannot deny (a wrapper around a node
// without it).
type PeerDenier interface {
	Deny(id string) error
}

// Errors of PeerDenier.Deny.
var (
	ErrBadPeerID    = errors.New("not a peer id")
	ErrDenySelf     = errors.New("a node cannot deny itself")
	ErrNotSupported = errors.New("this node does not support that")
)

func (h *ControlHandler) self(w http.ResponseWriter, r *http.Request) {
	p := cleanPeer(h.node.Self())
	if mi, ok := h.node.(MeshIdentity); ok {
		p.MeshID = mi.MeshID()
	}
	WriteJSON(w, http.StatusOK, p)
}

// deny refuses a peer from now on (see PeerDenier and
// controlapi.Client.DenyPeer for what that does and does not do).
func (h *ControlHandler) deny(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := h.node.(PeerDenier)
	if !ok {
		WriteError(w, http.StatusNotImplemented, ErrNotSupported.Error())
		return
	}
	err := d.Deny(id)
	switch {
	case err == nil:
		h.log.Warn("control API: peer denied", "peer", id)
		WriteJSON(w, http.StatusOK, controlapi.DenyResponse{ID: id})
	case errors.Is(err, ErrBadPeerID), errors.Is(err, ErrDenySelf):
		WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotSupported):
		WriteError(w, http.StatusNotImplemented, err.Error())
	default:
		WriteError(w, http.StatusInternalServerError, err.Error())
	}
}

func (h *ControlHandler) peers(w http.ResponseWriter, r *http.Request) {
	ps := h.node.Peers()
	out := controlapi.PeersResponse{Peers: make([]controlapi.Peer, 0, len(ps))}
	for _, p := range ps {
		out.Peers = append(out.Peers, cleanPeer(p))
	}
	WriteJSON(w, http.StatusOK, out)
}

// cleanPeer makes a peer safe and stable to encode: JSON has no NaN or Inf
// (json.Marshal would fail on a bad load average), and nil slices become []
// so clients never see null.
func cleanPeer(p controlapi.Peer) controlapi.Peer {
	if math.IsNaN(p.Load) || math.IsInf(p.Load, 0) {
		p.Load = 0
	}
	if p.Models == nil {
		p.Models = []string{}
	}
	if p.Jobs == nil {
		p.Jobs = []string{}
	}
	if p.Addrs == nil {
		p.Addrs = []string{}
	}
	return p
}
