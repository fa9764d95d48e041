package job

import (
	"errors"
	"fmt"
	"time"
)

// Under --jobs ask (JoinAsk) a job that passes every other admission check
// is held, not started: nothing is fetched or allocated until the
// operator accepts it (Accept; `shoal job accept`, the console's Jobs
// screen). Declining it, or leaving it unanswered for PendingTimeout,
// refuses it, and the submitter hears why (refusal.go). Held jobs stay
// listed, as pending, declined or expired, until pruned like ended jobs.

// States of a held job (Info.State); they never go out in a status.
const (
	StatePending  = "pending"  // waits for the operator (--jobs ask)
	StateDeclined = "declined" // the operator declined it
	StateExpired  = "expired"  // no answer within PendingTimeout
)

// maxPending bounds the jobs waiting for an answer at once: a member
// announcing job after job must not grow this list without bound.
const maxPending = 32

// ErrNotPending is the error of Accept and Decline for a job that does not
// wait for an answer (declined, expired, or running here already).
var ErrNotPending = errors.New("job is not waiting for this operator's answer")

// pendingJob is an announcement held for the operator's answer.
type pendingJob struct {
	ann     Announcement
	state   string // StatePending, StateDeclined or StateExpired
	expires time.Time
	ended   time.Time // when it was declined or expired
	timer   *time.Timer
}

// hold keeps ann until the operator answers, or refuses it when too many
// jobs wait already; a job held or running here already is left alone.
func (m *Manager) hold(ann Announcement) {
	id := ann.Spec.ID
	m.mu.Lock()
	if m.closed || m.pending[id] != nil || m.jobs[id] != nil {
		m.mu.Unlock()
		return
	}
	waiting := 0
	for _, p := range m.pending {
		if p.state == StatePending {
			waiting++
		}
	}
	if waiting >= maxPending {
		m.mu.Unlock()
		if m.noteRefusal(id) {
			m.refuse(ann, refused(RefusedBusy, "%d jobs already wait for this peer's operator", waiting))
		}
		return
	}
	p := &pendingJob{ann: ann, state: StatePending, expires: time.Now().Add(m.cfg.PendingTimeout)}
	p.timer = time.AfterFunc(m.cfg.PendingTimeout, func() { m.expire(id) })
	m.pending[id] = p
	m.mu.Unlock()
	m.log.Info("job waits for the operator (shoal job accept or decline)", "job", id, "submitter", ann.Spec.Submitter,
		"expires", p.expires.Format(time.RFC3339))
	spec := ann.Spec
	m.emit(Event{Type: "job_pending", Job: id, Spec: &spec, Time: time.Now()})
}

// stateAccepting marks a held job between Accept's claim and its start.
const stateAccepting = "accepting"

// Accept starts job id, held for this operator's answer. The other
// admission checks run again (jobs may have started meanwhile); when they
// refuse it now, the job stays pending until it expires, so the operator
// may accept it again once a job slot or memory frees, and the error says
// why.
func (m *Manager) Accept(id string) error {
	p, err := m.answer(id, stateAccepting)
	if err != nil {
		return err
	}
	if err := m.admit(p.ann, true); err != nil {
		m.mu.Lock()
		p.state = StatePending
		p.timer.Reset(max(time.Until(p.expires), 0))
		m.mu.Unlock()
		return fmt.Errorf("%w; it stays pending until %s", err, p.expires.Format(time.TimeOnly))
	}
	m.mu.Lock()
	delete(m.pending, id)
	m.mu.Unlock()
	m.log.Info("job accepted by the operator", "job", id)
	return m.start(p.ann)
}

// Decline refuses job id, held for this operator's answer; its submitter
// hears so.
func (m *Manager) Decline(id string) error {
	p, err := m.answer(id, StateDeclined)
	if err != nil {
		return err
	}
	m.endPending(p, StateDeclined)
	m.refuse(p.ann, refused(RefusedDeclined, "declined by this peer's operator"))
	return nil
}

// expire refuses job id when it is still unanswered.
func (m *Manager) expire(id string) {
	p, err := m.answer(id, StateExpired)
	if err != nil {
		return // answered meanwhile, or the manager closed
	}
	m.endPending(p, StateExpired)
	m.refuse(p.ann, refused(RefusedExpired, "this peer's operator did not accept it within %s", m.cfg.PendingTimeout))
}

// answer claims held job id for an answer (to) and stops its expiry; it
// fails unless the job still waits. The claim marks the job as answered
// (to), so a second answer or the timer racing it fails.
func (m *Manager) answer(id, to string) (*pendingJob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[id]
	switch {
	case m.closed:
		return nil, errors.New("job: manager closed")
	case !ok && m.jobs[id] != nil:
		return nil, fmt.Errorf("job %s: %w: it runs here already", id, ErrNotPending)
	case !ok:
		return nil, fmt.Errorf("job %s: %w", id, ErrUnknownJob)
	case p.state != StatePending:
		return nil, fmt.Errorf("job %s: %w: it is %s", id, ErrNotPending, p.state)
	}
	p.state = to
	p.timer.Stop()
	return p, nil
}

// endPending records that held job p ended as state, then prunes.
func (m *Manager) endPending(p *pendingJob, state string) {
	m.mu.Lock()
	p.state, p.ended = state, time.Now()
	m.mu.Unlock()
	id := p.ann.Spec.ID
	m.noteRefusal(id) // re-announcements are not held again
	spec := p.ann.Spec
	m.emit(Event{Type: "job_" + state, Job: id, Spec: &spec, Time: p.ended})
	m.prune()
}

// held reports whether job id is held here in any state (pending or
// answered): a re-announcement of it changes nothing.
func (m *Manager) held(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending[id] != nil
}
