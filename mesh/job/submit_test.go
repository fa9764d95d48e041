package job

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
)

// TestBeginReturnsBeforeTheDataIsCut: a submission whose data preparation
// blocks is named and listed as preparing at once; once the preparation
// goes on, the job starts and is announced. A preparation that fails
// leaves a failed entry with its error, and a job_failed event.
func TestBeginReturnsBeforeTheDataIsCut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a libp2p node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := startCancelPeer(t, ctx, psk, nil)
	gate := make(chan error)
	cut := a.jobs.prepare
	a.jobs.prepare = func(s Spec) (Manifest, error) {
		if err := <-gate; err != nil {
			return Manifest{}, err
		}
		return cut(s)
	}
	events, stop := a.jobs.Subscribe()
	defer stop()
	data := datatest.DaysTSV(t, 60)

	begun := time.Now()
	spec, err := a.jobs.Begin(Spec{Model: "seed-text", Data: data, MinPeers: 3, ShardRows: 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Begin returned after %v with the data not yet read", time.Since(begun))
	if !validID(spec.ID) || spec.Batch != DefaultBatch("text") || spec.Submitter != a.node.ID().String() {
		t.Fatalf("begun spec %+v", spec)
	}
	check := spec
	check.assignID()
	if check.ID != spec.ID {
		t.Fatal("the id Begin returns is not the hash of the spec")
	}
	if in, ok := infoOf(a.jobs, spec.ID); !ok || in.State != StatePreparing {
		t.Fatalf("job listed as %+v (%v), want preparing", in.State, ok)
	}
	if _, ended, _ := a.jobs.Outcome(spec.ID); ended {
		t.Fatal("a job being prepared has ended")
	}
	gate <- nil
	waitFor(t, ctx, events, "the job to start", func() bool { return a.jobs.Known(spec.ID) })
	if in, _ := infoOf(a.jobs, spec.ID); in.State != StateJoined || in.Shards != 3 {
		t.Errorf("started job: state %q, %d shards", in.State, in.Shards)
	}
	if n := len(a.jobs.Jobs()); n != 1 {
		t.Errorf("%d jobs listed, want 1 (preparing and running listed twice?)", n)
	}
	if _, err := a.jobs.Cancel(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}

	// A preparation that fails.
	spec2, err := a.jobs.Begin(Spec{Model: "seed-text", Data: data, MinPeers: 3, ShardRows: 20, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	gate <- errors.New("disk on fire")
	var failed bool
	waitFor(t, ctx, events, "job_failed", func() bool {
		_, ended, err := a.jobs.Outcome(spec2.ID)
		failed = ended && err != nil && strings.Contains(err.Error(), "disk on fire")
		return ended
	})
	if in, _ := infoOf(a.jobs, spec2.ID); !failed || in.State != StateFailed || !strings.Contains(in.Self.Error, "disk on fire") {
		t.Errorf("failed preparation listed as %q %q", in.State, in.Self.Error)
	}
	if _, err := a.jobs.Wait(ctx, spec2.ID); err == nil {
		t.Error("Wait of a failed submission gave no error")
	}

	// What Begin checks itself is answered at once.
	if _, err := a.jobs.Begin(Spec{Model: "seed-text", Data: data + ".missing"}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing data: %v", err)
	}
	if _, err := a.jobs.Begin(Spec{Model: "seed-text", Data: data, Epochs: -1}); err == nil || !strings.Contains(err.Error(), "epochs") {
		t.Errorf("bad spec: %v", err)
	}
}

// TestPruneKeepsTheLastFinished: after many jobs end, the manager lists
// only the KeepFinished most recently ended (running and pending ones
// always), closes the averagers of those it forgets, and does not start a
// forgotten job again when it is re-announced.
func TestPruneKeepsTheLastFinished(t *testing.T) {
	m := admissionManager(4, -1, JoinAsk)
	m.cfg.KeepFinished = 3
	m.pending, m.preparing, m.forgotten = map[string]*pendingJob{}, map[string]*preparingJob{}, map[string]struct{}{}
	released := 0
	t0 := time.Unix(1_700_000_000, 0)
	ended := make(chan struct{})
	close(ended)
	id := func(i int) string { return fmt.Sprintf("%016x", i) }
	for i := range 100 {
		m.jobs[id(i)] = &jobState{done: ended, ended: t0.Add(time.Duration(i) * time.Second), release: func() { released++ },
			members: map[peer.ID]memberStatus{}}
	}
	m.jobs["running"] = &jobState{done: make(chan struct{})}
	m.pending["waiting"] = &pendingJob{state: StatePending, timer: time.NewTimer(time.Hour)}
	m.pending["declined"] = &pendingJob{state: StateDeclined, ended: t0.Add(time.Hour)}
	m.preparing["failed"] = &preparingJob{err: errors.New("x"), ended: t0}
	m.prune()

	if len(m.jobs) != 3 || m.jobs["running"] == nil || m.jobs[id(99)] == nil || m.jobs[id(98)] == nil {
		t.Errorf("kept jobs %v, want the running one and the two newest ended", keys(m.jobs))
	}
	if len(m.pending) != 2 || m.pending["waiting"] == nil || m.pending["declined"] == nil {
		t.Errorf("kept held jobs %v", keys(m.pending))
	}
	if len(m.preparing) != 0 {
		t.Error("an old failed submission was kept")
	}
	if released != 98 {
		t.Errorf("%d averagers released, want 98", released)
	}
	if _, ok := m.forgotten[id(0)]; !ok {
		t.Error("a pruned job is not remembered")
	}
	if err := m.start(Announcement{Spec: Spec{ID: id(0)}}); err != nil || m.jobs[id(0)] != nil {
		t.Errorf("a forgotten job started again (%v)", err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRealJobsArePruned: one peer runs six one-peer jobs to the end with
// KeepFinished 2; it lists only the last two, the others are forgotten
// (and their done markers stay on disk), and a re-announcement of a
// forgotten one does not run it again.
func TestRealJobsArePruned(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a libp2p node and trains six small models")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := startTestPeer(t, ctx, psk, nil, mesh.RoleFull, func(c *Config) { c.KeepFinished = 2 })
	data := datatest.DaysTSV(t, 40)
	var ids []string
	var first Announcement
	for i := range 6 {
		spec, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: data, Epochs: 1, ShardRows: 20, Seed: uint64(i + 1), Name: "days"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first, _ = a.jobs.Announcement(spec.ID)
		}
		if _, err := a.jobs.Wait(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, spec.ID)
	}
	a.jobs.prune() // the last job's own prune may race this check
	got := a.jobs.Jobs()
	if len(got) != 2 {
		t.Fatalf("%d jobs listed after six ended, want 2", len(got))
	}
	for _, in := range got {
		if in.Spec.ID != ids[4] && in.Spec.ID != ids[5] {
			t.Errorf("kept job %s, want the last two of %v", in.Spec.ID, ids)
		}
	}
	if !a.jobs.finished(ids[0]) {
		t.Error("a pruned job's done marker is gone")
	}
	a.jobs.onAnnounce(first)
	if a.jobs.Known(ids[0]) {
		t.Error("a re-announced pruned job runs again")
	}
}
