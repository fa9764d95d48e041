package job

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/engine/clip"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// Info summarises one job as this peer knows it.
type Info struct {
	Spec    Spec              `json:"spec"`
	State   string            `json:"state"` // this peer's state
	Self    Status            `json:"self"`
	Members map[string]Status `json:"members"` // latest status of every member heard, by peer id
	Result  *Result           `json:"result,omitempty"`
	// Shards is the job's shard count, ShardsHeld how many of them this
	// peer holds (0 for private-data jobs, which cut none).
	Shards, ShardsHeld int
	// Refusals are the peers that refused a job this peer submitted, by
	// peer id (refusal.go).
	Refusals []Refusal `json:"refusals,omitempty"`
	// Expires is when a job held for the operator's answer (State
	// pending) is refused unanswered.
	Expires time.Time `json:"expires,omitzero"`
}

// Jobs lists the jobs this peer knows, newest first: those that run or
// ran here, those held for the operator (pending, declined, expired) and
// this node's submissions still being prepared (or that failed to start).
func (m *Manager) Jobs() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.jobs)+len(m.pending)+len(m.preparing))
	for id, p := range m.pending {
		state := p.state
		if state == stateAccepting {
			state = StatePending
		}
		out = append(out, Info{Spec: p.ann.Spec, State: state, Self: Status{Job: id, Peer: m.node.ID().String(), State: state},
			Members: map[string]Status{}, Shards: len(p.ann.Manifest.Shards), Expires: p.expires})
	}
	for id, p := range m.preparing {
		if m.jobs[id] != nil {
			continue // started a moment ago: listed below
		}
		self := Status{Job: id, Peer: p.spec.Submitter, State: StatePreparing}
		if p.err != nil {
			self.State, self.Error = StateFailed, clip.String(p.err.Error(), maxStatusError)
		}
		out = append(out, Info{Spec: p.spec, State: self.State, Self: self, Members: map[string]Status{}})
	}
	for _, js := range m.jobs {
		info := Info{Spec: js.ann.Spec, State: js.self.State, Self: js.self, Members: map[string]Status{}, Result: js.result,
			Shards: len(js.ann.Manifest.Shards), Refusals: refusalsOf(js)}
		for _, ref := range js.ann.Manifest.Shards {
			if id, err := shards.ParseID(ref.ID); err == nil && m.shards.Has(id) {
				info.ShardsHeld++
			}
		}
		for p, ms := range js.members {
			info.Members[p.String()] = ms.status
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Spec.Created != b.Spec.Created {
			return cmp.Compare(b.Spec.Created, a.Spec.Created)
		}
		return cmp.Compare(a.Spec.ID, b.Spec.ID)
	})
	return out
}

// Wait blocks until job id ends on this peer and returns its result (a
// submission still being prepared is waited for first).
func (m *Manager) Wait(ctx context.Context, id string) (*Result, error) {
	m.mu.Lock()
	p := m.preparing[id]
	m.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if p.err != nil {
			return nil, p.err
		}
	}
	m.mu.Lock()
	js, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("job %s: unknown on this peer", id)
	}
	select {
	case <-js.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return js.result, js.err
}

// Known reports whether this peer has heard of job id.
func (m *Manager) Known(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.jobs[id]
	return ok
}

// Announcement returns the announcement of job id as this peer knows it.
func (m *Manager) Announcement(id string) (Announcement, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	js, ok := m.jobs[id]
	if !ok {
		return Announcement{}, false
	}
	return js.ann, true
}

// Outcome reports, without blocking, whether job id has ended on this peer,
// and if so how: its result, or the error it failed with. ended is false
// for a running, held or unknown job; a submission that failed before it
// started has ended with its error.
func (m *Manager) Outcome(id string) (res *Result, ended bool, err error) {
	m.mu.Lock()
	js, ok := m.jobs[id]
	if p := m.preparing[id]; !ok && p != nil {
		m.mu.Unlock()
		return nil, p.err != nil, p.err
	}
	m.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	select {
	case <-js.done:
	default:
		return nil, false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return js.result, true, js.err
}
