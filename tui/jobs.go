package tui

import (
	"slices"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// historyMsg carries a job's history as the node recorded it.
type historyMsg struct {
	gen    int
	id     string
	points []controlapi.JobPoint
	err    error
}

// jobsKey: the list keys, enter opens a job (and reads its history for
// the charts), n opens the job form, c cancels the job (asking first), a
// accepts a job pending for this node's operator (shoal up --jobs ask)
// and x declines it (asking first).
func (m Model) jobsKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if m.listKey(msg) {
		return m, nil
	}
	l := &m.lists[screenJobs]
	switch {
	case key.Matches(msg, m.keys.Open) && l.open == "":
		if id, ok := m.selectedID(); ok {
			l.open = id
			return m, m.fetchHistory(id)
		}
	case key.Matches(msg, m.keys.NewJob):
		m.form = newJobForm(m.width)
	case key.Matches(msg, m.keys.AcceptJob), key.Matches(msg, m.keys.DeclineJob):
		j, ok := m.targetJob()
		if !ok {
			return m, nil
		}
		if j.State != controlapi.JobPending {
			m.note = "! job " + jobName(j) + " is not waiting for an answer (" + orDash(j.State) + ")"
			return m, nil
		}
		if key.Matches(msg, m.keys.AcceptJob) {
			return m, m.answerCmd(j, true)
		}
		m.confirm = &confirmation{question: "decline job " + jobName(j) + "?", detail: "it does not run here; its submitter hears so",
			run: m.answerCmd(j, false)}
	case key.Matches(msg, m.keys.CancelJob):
		id := l.open
		if id == "" {
			id, _ = m.selectedID()
		}
		i := slices.IndexFunc(m.jobs, func(j controlapi.Job) bool { return j.ID == id })
		if i < 0 {
			return m, nil
		}
		j := m.jobs[i]
		if controlapi.JobEnded(j.State) {
			m.note = "! job " + jobName(j) + " has already ended (" + j.State + ")"
			return m, nil
		}
		detail := "it stops on this node; the others go on without it"
		if j.Submitter == m.self.ID {
			detail = "this node submitted it: every member stops"
		}
		m.confirm = &confirmation{question: "cancel job " + jobName(j) + "?", detail: detail, run: m.cancelCmd(j)}
	}
	return m, nil
}

// targetJob is the job a key acts on: the open one, else the selected row.
func (m Model) targetJob() (controlapi.Job, bool) {
	id := m.lists[screenJobs].open
	if id == "" {
		id, _ = m.selectedID()
	}
	i := slices.IndexFunc(m.jobs, func(j controlapi.Job) bool { return j.ID == id })
	if i < 0 {
		return controlapi.Job{}, false
	}
	return m.jobs[i], true
}

func (m Model) answerCmd(j controlapi.Job, accept bool) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		if accept {
			_, err := node.AcceptJob(ctx, j.ID)
			return actionMsg{gen: gen, ok: "accepted job " + jobName(j) + ": it runs here", err: err, what: "accept " + jobName(j), jobs: true}
		}
		_, err := node.DeclineJob(ctx, j.ID)
		return actionMsg{gen: gen, ok: "declined job " + jobName(j), err: err, what: "decline " + jobName(j), jobs: true}
	}
}

func (m Model) cancelCmd(j controlapi.Job) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		res, err := node.CancelJob(ctx, j.ID)
		ok := "canceled job " + jobName(j) + " on this node"
		if res.Mesh {
			ok = "canceled job " + jobName(j) + " on every member"
		}
		return actionMsg{gen: gen, ok: ok, err: err, what: "cancel " + jobName(j), jobs: true}
	}
}

func (m Model) fetchHistory(id string) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		pts, err := node.JobHistory(ctx, id)
		return historyMsg{gen, id, pts, err}
	}
}

// pointOf is the history point of a status event of this node's.
func pointOf(s controlapi.JobStatus, t time.Time) controlapi.JobPoint {
	return controlapi.JobPoint{Time: t, State: s.State, Epoch: s.Epoch, Step: s.Step, Loss: s.Loss,
		Accuracy: s.Accuracy, ConsensusDistance: s.ConsensusDistance}
}

// maxHistory bounds the points the console keeps per job (the node keeps
// its own bounded history; the charts are far narrower).
const maxHistory = 1024

// mergeHistory joins two histories of one job by step, in step order:
// points read from the node and points from events while connected
// overlap after a reconnect, and a replayed event must not draw twice. A
// later point for a step (a new state, a new loss) replaces the earlier.
func mergeHistory(a, b []controlapi.JobPoint) []controlapi.JobPoint {
	all := slices.Concat(a, b)
	slices.SortStableFunc(all, func(p, q controlapi.JobPoint) int { return p.Step - q.Step })
	out := all[:0]
	for i, p := range all {
		if i+1 < len(all) && all[i+1].Step == p.Step {
			continue // the later point of a step wins
		}
		out = append(out, p)
	}
	if len(out) > maxHistory {
		out = out[len(out)-maxHistory:]
	}
	return out
}
