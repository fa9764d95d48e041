package main

import (
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// timeline is what the nodes' event streams said about one job: every
// job event, with the node that sent it.
type timeline struct {
	job    string
	events []nodeEvent
}

type nodeEvent struct {
	node string // peer id of the node whose stream carried it
	ev   controlapi.Event
}

// own reports whether e is a node's own status for the job (a node also
// relays the statuses it hears from the others, later and second hand).
func (t *timeline) own(e nodeEvent) (*controlapi.JobStatus, bool) {
	j := e.ev.Job
	if j == nil || j.ID != t.job || j.Status == nil || j.Status.Peer != e.node {
		return nil, false
	}
	return j.Status, true
}

// firstAt is the earliest time a node reported a hold-out accuracy of at
// least target for the job, by the node's own clock (the event's time,
// set when the status was published), and which node it was.
func (t *timeline) firstAt(target float64) (time.Time, string, bool) {
	var at time.Time
	var who string
	for _, e := range t.events {
		st, ok := t.own(e)
		if !ok || st.Accuracy < target {
			continue
		}
		if at.IsZero() || e.ev.Time.Before(at) {
			at, who = e.ev.Time, e.node
		}
	}
	return at, who, !at.IsZero()
}

// accuracies lists, for one node, the hold-out accuracies it reported in
// order, each once: one value per probe evaluation (every epoch of the
// job and once at the end) unless two evaluations gave the same figure.
func (t *timeline) accuracies(node string) []float64 {
	var out []float64
	for _, e := range t.events {
		if e.node != node {
			continue
		}
		st, ok := t.own(e)
		if !ok || st.Accuracy == 0 {
			continue
		}
		if len(out) == 0 || out[len(out)-1] != st.Accuracy {
			out = append(out, st.Accuracy)
		}
	}
	return out
}

// ended returns the node's job_done or job_failed event for the job.
func (t *timeline) ended(node string) (controlapi.Event, bool) {
	for _, e := range t.events {
		if e.node == node && e.ev.Job != nil && e.ev.Job.ID == t.job &&
			(e.ev.Type == "job_done" || e.ev.Type == "job_failed") {
			return e.ev, true
		}
	}
	return controlapi.Event{}, false
}

// trainingSince is when each node first reported itself training (its
// shards fetched, its first steps taken), by node id.
func (t *timeline) trainingSince() map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range t.events {
		st, ok := t.own(e)
		if !ok || st.State != "training" {
			continue
		}
		if at, seen := out[e.node]; !seen || e.ev.Time.Before(at) {
			out[e.node] = e.ev.Time
		}
	}
	return out
}
