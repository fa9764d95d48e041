package job

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/clip"
)

// A peer that refuses a job (admission.go, or its operator under --jobs
// ask) says so on the jobs topic, so the submitter learns which peers will
// not take part and why instead of waiting for members that never come.
// The message is small and GossipSub signs it: the submitter records it
// under its signed origin, whatever the body says. Only the submitter
// keeps refusals; a later status from the same peer (it joined after all,
// say once a job slot freed) clears its refusal.

// RefusalMessage tells a job's submitter that the sending peer does not
// take part.
type RefusalMessage struct {
	Job    string `json:"job"`
	Reason string `json:"reason"` // one of the Refused* words
	Detail string `json:"detail"` // the peer's own words, at most maxRefusalDetail bytes
}

func (r *RefusalMessage) validate() error {
	if !validID(r.Job) {
		return fmt.Errorf("refusal: bad job id %q", r.Job)
	}
	if !refusedReasons[r.Reason] {
		return fmt.Errorf("refusal: unknown reason %q", r.Reason)
	}
	if len(r.Detail) > maxRefusalDetail {
		return fmt.Errorf("refusal: detail of %d bytes exceeds %d", len(r.Detail), maxRefusalDetail)
	}
	return nil
}

// Refusal is one peer's refusal of a job, as its submitter recorded it.
type Refusal struct {
	Peer   string    `json:"peer"`
	Reason string    `json:"reason"`
	Detail string    `json:"detail"`
	Time   time.Time `json:"time"`
}

// Limits of refusals.
const (
	// maxRefusalDetail bounds a refusal's text: the longest of admit's
	// messages is under 200 bytes.
	maxRefusalDetail = 512
	// maxRefusals bounds the refusals a submitter keeps per job (one per
	// peer); past it further peers' refusals are counted out.
	maxRefusals = 256
)

// sendRefusal tells the mesh (the submitter of job id) that this peer
// refused it.
func (m *Manager) sendRefusal(id, reason, detail string) {
	r := &RefusalMessage{Job: id, Reason: reason, Detail: clip.String(detail, maxRefusalDetail)}
	b, err := encodeEnvelope(envelope{V: messageVersion, Kind: kindRefusal, Refusal: r})
	if err != nil {
		m.log.Warn("refusal not sent", "job", id, "err", err)
		return
	}
	if err := m.topic.Publish(m.ctx, b); err != nil && m.ctx.Err() == nil {
		m.log.Debug("refusal not sent", "job", id, "err", err)
	}
}

// onRefusal records a refusal heard from peer from of a job this peer
// submitted; others' refusals are none of its business.
func (m *Manager) onRefusal(from peer.ID, r RefusalMessage) {
	self := m.node.ID().String()
	m.mu.Lock()
	js, ok := m.jobs[r.Job]
	if !ok || js.ann.Spec.Submitter != self {
		m.mu.Unlock()
		return
	}
	if _, seen := js.refusals[from]; !seen && len(js.refusals) >= maxRefusals {
		m.mu.Unlock()
		return
	}
	ref := Refusal{Peer: from.String(), Reason: r.Reason, Detail: r.Detail, Time: time.Now()}
	if js.refusals == nil {
		js.refusals = map[peer.ID]Refusal{}
	}
	js.refusals[from] = ref
	m.mu.Unlock()
	m.log.Info("a peer refused the job", "job", r.Job, "peer", from.String(), "reason", r.Reason, "detail", r.Detail)
	m.emit(Event{Type: "job_peer_refused", Job: r.Job, Refusal: &ref, Error: r.Detail, Time: ref.Time})
}

// refusalsOf lists js's refusals by peer id; m.mu must be held.
func refusalsOf(js *jobState) []Refusal {
	out := make([]Refusal, 0, len(js.refusals))
	for _, r := range js.refusals {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Refusal) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}
