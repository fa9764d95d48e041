package job

import (
	"cmp"
	"slices"
	"time"
)

// A node that runs jobs for months must not keep every job it ever saw:
// each entry holds its announcement (up to a manifest and a vocabulary,
// hundreds of KiB), its members' statuses and, for a finished job, an
// averager serving the final vector (one model-sized vector and the
// parameters). So only the KeepFinished most recently ended entries stay
// listed; older ones are forgotten and their averagers closed. What the
// data dir holds (spec, done marker, checkpoint, shards) stays, and the
// ids of forgotten jobs are remembered (boundedly) so that a late
// re-announcement does not run a job again on a peer without a data dir.

// maxForgotten bounds the remembered ids of pruned jobs; past it the set
// starts over (the data dir's done markers still stop a finished job).
const maxForgotten = 4096

// prune forgets the ended entries (jobs, held jobs, failed submissions)
// beyond the KeepFinished most recently ended.
func (m *Manager) prune() {
	type ended struct {
		id   string
		at   time.Time
		drop func()
	}
	m.mu.Lock()
	var all []ended
	for id, js := range m.jobs {
		select {
		case <-js.done:
			all = append(all, ended{id, js.ended, func() {
				delete(m.jobs, id)
				m.forget(id)
			}})
		default:
		}
	}
	for id, p := range m.pending {
		if p.state == StateDeclined || p.state == StateExpired {
			all = append(all, ended{id, p.ended, func() { delete(m.pending, id) }})
		}
	}
	for id, p := range m.preparing {
		if p.err != nil {
			all = append(all, ended{id, p.ended, func() { delete(m.preparing, id) }})
		}
	}
	var release []func()
	if keep := m.cfg.KeepFinished; len(all) > keep {
		slices.SortFunc(all, func(a, b ended) int { return cmp.Compare(b.at.UnixNano(), a.at.UnixNano()) }) // newest first
		for _, e := range all[keep:] {
			if js := m.jobs[e.id]; js != nil && js.release != nil {
				release = append(release, js.release)
			}
			e.drop()
		}
	}
	m.mu.Unlock()
	for _, f := range release {
		f()
	}
}

// forget remembers that job id was pruned; m.mu must be held.
func (m *Manager) forget(id string) {
	if len(m.forgotten) >= maxForgotten {
		clear(m.forgotten)
	}
	m.forgotten[id] = struct{}{}
}
