package job

import (
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// members returns the peers taking part in job id: those that sent a status
// recently and are alive in the peer table, plus self, sorted. With
// excludeFinished, members that are done or failed are left out.
func (m *Manager) members(id string, excludeFinished bool) []peer.ID {
	out := []peer.ID{m.node.ID()}
	m.mu.Lock()
	js, ok := m.jobs[id]
	var heard []peer.ID
	if ok {
		for p, ms := range js.members {
			if time.Since(ms.seen) > m.cfg.StatusTimeout {
				continue
			}
			if excludeFinished && (ms.status.State == StateDone || ms.status.State == StateFailed) {
				continue
			}
			heard = append(heard, p)
		}
	}
	m.mu.Unlock()
	for _, p := range heard {
		if info, ok := m.node.Peer(p); ok && info.Alive {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// memberStatuses copies the latest statuses of job id's members.
func (m *Manager) memberStatuses(id string) map[peer.ID]Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[peer.ID]Status{}
	if js, ok := m.jobs[id]; ok {
		for p, ms := range js.members {
			out[p] = ms.status
		}
	}
	return out
}
