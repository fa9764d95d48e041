package main

import (
	"slices"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

func TestTimeline(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ev := func(node string, ms int, typ, job, peer, state string, acc float64) nodeEvent {
		return nodeEvent{node: node, ev: controlapi.Event{Type: typ, Time: at(ms),
			Job: &controlapi.JobEvent{ID: job, Status: &controlapi.JobStatus{Peer: peer, State: state, Accuracy: acc}}}}
	}
	tl := &timeline{job: "j", events: []nodeEvent{
		ev("a", 100, "job_status", "j", "a", "joined", 0),
		ev("a", 200, "job_status", "j", "a", "training", 0),
		ev("a", 900, "job_status", "j", "a", "training", 0.95),
		// b relays a's status second hand, later and with a higher figure:
		// it is not a's own report, so it must not count.
		ev("b", 950, "job_status", "j", "a", "training", 0.99),
		ev("b", 1000, "job_status", "j", "b", "training", 0.96),
		// another job's statuses are ignored.
		ev("b", 1100, "job_status", "other", "b", "training", 0.999),
		ev("a", 1500, "job_status", "j", "a", "training", 0.95),
		ev("b", 1600, "job_status", "j", "b", "training", 0.971),
		ev("a", 1700, "job_status", "j", "a", "trained", 0.972),
		ev("a", 1800, "job_done", "j", "a", "done", 0.973),
	}}
	when, who, ok := tl.firstAt(0.97)
	if !ok || !when.Equal(at(1600)) || who != "b" {
		t.Errorf("firstAt(0.97) = %v %q %v, want b at 1.6 s", when.Sub(t0), who, ok)
	}
	if _, _, ok := tl.firstAt(0.98); ok {
		t.Error("firstAt(0.98) reached: the only 0.99 was a relayed status")
	}
	if got, want := tl.accuracies("a"), []float64{0.95, 0.972, 0.973}; !slices.Equal(got, want) {
		t.Errorf("accuracies(a) = %v, want %v", got, want)
	}
	since := tl.trainingSince()
	if !since["a"].Equal(at(200)) || !since["b"].Equal(at(1000)) || len(since) != 2 {
		t.Errorf("trainingSince = %v", since)
	}
	if e, ok := tl.ended("a"); !ok || e.Type != "job_done" {
		t.Errorf("ended(a) = %v %v", e.Type, ok)
	}
	if _, ok := tl.ended("b"); ok {
		t.Error("b has not ended")
	}
}
