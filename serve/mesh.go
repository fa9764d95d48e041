package serve

import (
	"slices"
	"sync"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// FromMesh adapts a running mesh node to the control API's Node.
func FromMesh(n *mesh.Node) Node { return meshNode{n} }

type meshNode struct{ n *mesh.Node }

func (m meshNode) Self() controlapi.Peer { return peerFromMesh(m.n.Self()) }

func (m meshNode) Peers() []controlapi.Peer {
	ps := m.n.Peers()
	out := make([]controlapi.Peer, len(ps))
	for i, p := range ps {
		out[i] = peerFromMesh(p)
	}
	return out
}

// Subscribe converts the mesh's events on a goroutine of its own. It never
// blocks the mesh: the mesh itself drops events for a full channel, and this
// goroutine only ever waits on our reader or on cancel.
func (m meshNode) Subscribe() (<-chan controlapi.Event, func()) {
	src, cancelSrc := m.n.Subscribe()
	out := make(chan controlapi.Event, 64)
	done := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(out)
		for {
			select {
			case ev, ok := <-src:
				if !ok {
					return // node closed
				}
				p := peerFromMesh(ev.Peer)
				select {
				case out <- controlapi.Event{Type: ev.Type, Time: ev.Time, Peer: &p, Reason: ev.Reason}:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out, func() {
		once.Do(func() {
			close(done)
			cancelSrc()
		})
	}
}

func peerFromMesh(p mesh.PeerInfo) controlapi.Peer {
	return controlapi.Peer{
		ID: p.ID, Name: p.Name, Role: p.Role, Version: p.Version,
		Cores: p.Cores, MemBytes: p.MemBytes, Load: p.Load,
		Models: slices.Clone(p.Models), Jobs: slices.Clone(p.Jobs), Addrs: slices.Clone(p.Addrs),
		LastSeen: p.LastSeen, RTT: p.RTT, Alive: p.Alive,
		Served: servedFromMesh(p.Served),
	}
}

func servedFromMesh(ss []mesh.ServedModel) []controlapi.ServedModel {
	if len(ss) == 0 {
		return nil
	}
	out := make([]controlapi.ServedModel, len(ss))
	for i, s := range ss {
		out[i] = controlapi.ServedModel{Name: s.Name, Versions: slices.Clone(s.Versions), Int8: s.Int8, Queue: s.Queue}
	}
	return out
}
