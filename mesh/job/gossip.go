package job

import (
	"context"
	"time"

	"github.com/shoalmesh/shoal/mesh"
)

// topicName is the GossipSub topic (under the mesh id) of every job message.
const topicName = "jobs"

// announce publishes ann on the jobs topic.
func (m *Manager) announce(ctx context.Context, ann Announcement) error {
	b, err := encodeAnnouncement(ann)
	if err != nil {
		return err
	}
	return m.topic.Publish(ctx, b)
}

// reannounce repeats ann until MinPeers members joined or MinPeersWait
// passed: peers whose subscription the first announcement missed join late.
func (m *Manager) reannounce(ann Announcement) {
	t := time.NewTicker(announceEvery)
	defer t.Stop()
	deadline := time.After(m.cfg.MinPeersWait)
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-deadline:
			return
		case <-t.C:
		}
		if len(m.members(ann.Spec.ID, false)) >= ann.Spec.MinPeers || m.finished(ann.Spec.ID) {
			return // enough members, or canceled (a canceled job is marked finished)
		}
		if err := m.announce(m.ctx, ann); err != nil {
			m.log.Debug("re-announce", "job", ann.Spec.ID, "err", err)
		}
	}
}

// readLoop handles the job messages of the other peers: an announcement
// starts its job here, a status updates that job's members.
func (m *Manager) readLoop() {
	defer m.wg.Done()
	for {
		msg, err := m.sub.Next(m.ctx)
		if err != nil {
			return
		}
		from := msg.GetFrom()
		if from == m.node.ID() {
			continue
		}
		env, err := decodeMessage(msg.Data) // validated already; decoded again for the value
		if err != nil {
			continue
		}
		switch env.Kind {
		case kindCancel:
			m.onCancel(from, *env.Cancel)
		case kindRefusal:
			m.onRefusal(from, *env.Refusal)
		case kindAnnounce:
			m.onAnnounce(*env.Announce)
		case kindStatus:
			st := *env.Status
			st.Peer = from.String() // the signed origin, not what the body claims
			m.mu.Lock()
			js, ok := m.jobs[st.Job]
			if ok {
				delete(js.refusals, from) // it takes part after all
				if st.Have == nil {
					// A status carries the shards held only when that list
					// changed (runner.publish): keep the last one heard, or
					// holders() would forget who holds what.
					st.Have = js.members[from].status.Have
				}
				js.members[from] = memberStatus{status: st, seen: time.Now()}
				select {
				case js.wake <- struct{}{}:
				default:
				}
			}
			m.mu.Unlock()
			if ok {
				m.emit(Event{Type: "job_status", Job: st.Job, Status: &st, Time: time.Now()})
			}
		}
	}
}

// onAnnounce handles an announcement heard from another peer: a job known
// here already (running, ended, held for the operator) is left alone; a
// new one is admitted and started, held under --jobs ask, or refused.
func (m *Manager) onAnnounce(ann Announcement) {
	id := ann.Spec.ID
	if m.Known(id) || m.held(id) || m.finished(id) {
		// finished: done before a restart (resume skips it too), so a
		// re-announcement must not run it again.
		return
	}
	if err := m.admit(ann, false); err != nil {
		if m.noteRefusal(id) {
			m.refuse(ann, err)
		}
		return
	}
	if m.cfg.JoinPolicy == JoinAsk {
		m.hold(ann)
		return
	}
	if err := m.start(ann); err != nil {
		m.log.Debug("job not started", "err", err)
	}
}

// edgeMayRun says whether this node takes part in spec's job given its
// role: a full peer always, an edge peer when the job asks for edge peers
// or was submitted here (its operator asked).
func (m *Manager) edgeMayRun(spec Spec) bool {
	return m.cfg.Role != mesh.RoleEdge || spec.Edge || spec.Submitter == m.node.ID().String()
}

// publishStatus records this peer's status and sends it to the others.
func (m *Manager) publishStatus(js *jobState, st Status) {
	m.mu.Lock()
	js.self = st
	m.mu.Unlock()
	m.emit(Event{Type: "job_status", Job: st.Job, Status: &st, Time: time.Now()})
	b, err := encodeStatus(st)
	if err != nil {
		m.log.Warn("status not sent", "err", err)
		return
	}
	if err := m.topic.Publish(m.ctx, b); err != nil && m.ctx.Err() == nil {
		m.log.Debug("status not sent", "err", err)
	}
}

// heartbeat repeats this peer's latest status of every job it knows, every
// statusEvery (which says why).
func (m *Manager) heartbeat() {
	defer m.wg.Done()
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		var sts []Status
		for _, js := range m.jobs {
			sts = append(sts, js.self)
		}
		m.mu.Unlock()
		for _, st := range sts {
			st.Have = nil // shard lists go out when they change, not every beat
			if b, err := encodeStatus(st); err == nil {
				_ = m.topic.Publish(m.ctx, b)
			}
		}
	}
}
