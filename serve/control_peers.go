package serve

import (
	"math"
	"net/http"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

func (h *ControlHandler) self(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, cleanPeer(h.node.Self()))
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
