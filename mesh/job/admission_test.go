package job

import (
	"errors"
	"strings"
	"testing"
)

func admissionManager(maxJobs int, budget int64, policy string) *Manager {
	m := &Manager{cfg: Config{MaxJobs: maxJobs, MemBudget: budget, JoinPolicy: policy},
		jobs: map[string]*jobState{}, refused: map[string]struct{}{}}
	return m
}

// TestAdmission: each hole of issue 16's job admission that depends on
// this node, closed — a peer that joins no jobs, the cap on running jobs,
// and a job whose estimated memory exceeds the budget (a 256 GiB batch)
// are refused with a message naming the limit; a sound job is taken. (A
// tampered id is the sender's fault: the topic validator rejects it,
// TestDecodeMessageMalformed.)
func TestAdmission(t *testing.T) {
	good := validAnnouncement()
	m := admissionManager(2, 1<<30, JoinAuto)
	if err := m.admit(good, false); err != nil {
		t.Fatalf("a sound job was refused: %v", err)
	}

	off := admissionManager(2, 1<<30, JoinOff)
	if err := off.admit(good, false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--jobs off") {
		t.Errorf("--jobs off took another's job: %v", err)
	}
	if err := off.admit(good, true); err != nil {
		t.Errorf("--jobs off refused its own operator's job: %v", err)
	}

	busy := admissionManager(1, 1<<30, JoinAuto)
	busy.jobs["x"] = &jobState{done: make(chan struct{})} // running
	if err := busy.admit(good, false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "--max-jobs 1") {
		t.Errorf("over the job cap: %v", err)
	}
	ended := make(chan struct{})
	close(ended)
	busy.jobs["x"].done = ended
	if err := busy.admit(good, false); err != nil {
		t.Errorf("an ended job still counts against the cap: %v", err)
	}

	// The hostile sizes the limits still allow: a batch of 2^16 samples
	// of 2^20 values is 256 GiB of input alone, on every peer.
	huge := validAnnouncement()
	huge.Spec.Batch = maxBatch
	huge.Spec.Model = "logreg"
	huge.Manifest.SampleShape = []int{1 << 20}
	huge.Spec.ModelSpec = []byte(`{"input":[1048576],"layers":[{"type":"dense","units":2}]}`)
	huge.Spec.assignID()
	if err := huge.verify(); err != nil {
		t.Fatalf("the 256 GiB job is the sender's fault on no peer, yet: %v", err)
	}
	need, err := EstimateBytes(huge.Spec, huge.Manifest)
	if err != nil || need < 1<<38 {
		t.Fatalf("estimate of the 256 GiB batch: %d bytes, %v", need, err)
	}
	if err := m.admit(huge, false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "256 GiB") || !strings.Contains(err.Error(), "1.0 GiB") {
		t.Errorf("256 GiB job: %v", err)
	}
	if err := admissionManager(2, -1, JoinAuto).admit(huge, false); err != nil {
		t.Errorf("with no budget the estimate still refused: %v", err)
	}

	if !m.noteRefusal("a") || m.noteRefusal("a") {
		t.Error("a refusal is reported again on re-announcement")
	}
}

func TestEstimateBytes(t *testing.T) {
	a := validAnnouncement() // mlp on 784 inputs, 2 classes, 15 rows, batch 64
	need, err := EstimateBytes(a.Spec, a.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	params := int64(784*128 + 128 + 128*2 + 2)
	if lo := params * 4 * 11; need < lo || need > lo+64*(784+(128+2)*2)*4+15*785*4 {
		t.Errorf("estimate %d bytes for %d params", need, params)
	}
	bad := a
	bad.Spec.Model = "nosuch"
	if _, err := EstimateBytes(bad.Spec, bad.Manifest); err == nil {
		t.Error("an unknown model was estimated")
	}
}
