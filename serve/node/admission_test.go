//go:build unix

package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// waitJob polls node c's view of job id until ok holds.
func waitJob(t *testing.T, ctx context.Context, c *controlapi.Client, id, what string, ok func(controlapi.Job) bool) controlapi.Job {
	t.Helper()
	for {
		j, err := c.Job(ctx, id)
		if err == nil && ok(j) {
			return j
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (last %+v, %v)", what, j, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestSubmissionAnsweredBeforeTheDataIsRead: three real nodes; node 0
// takes a submission whose data is a named pipe nobody writes yet (a data
// set that takes long to read), and answers 202 with the job id at once,
// listing the job as preparing. Once the data arrives the job is
// announced: node 1 (--jobs off) refuses it and node 0's job view names it
// and why; node 2 (--jobs ask) lists it as pending until its operator
// accepts it over node 2's API, and then joins.
func TestSubmissionAnsweredBeforeTheDataIsRead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string, boot []string, policy string) (*Node, *controlapi.Client) {
		c := testConfig(t, psk, name, mesh.DefaultListen, boot, "")
		c.Jobs.JoinPolicy = policy
		n, err := Start(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n, n.APIClient()
	}
	n0, c0 := start("node-0", nil, job.JoinAuto)
	_, c1 := start("node-1", n0.Mesh().Addrs(), job.JoinOff)
	n2, c2 := start("node-2", n0.Mesh().Addrs(), job.JoinAsk)
	waitPeers(t, ctx, c0, 2)
	waitPeers(t, ctx, c1, 2)
	waitPeers(t, ctx, c2, 2)

	pipe := filepath.Join(t.TempDir(), "slow.tsv")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	// Should the test end before it writes the data, end the node's read
	// of the pipe (this runs before the nodes close, which wait for it).
	t.Cleanup(func() {
		if f, err := os.OpenFile(pipe, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	began := time.Now()
	spec, err := c0.SubmitJob(ctx, controlapi.JobSpec{Model: "seed-text", Data: pipe, Epochs: 1, MinPeers: 3, ShardRows: 20, Seed: 5})
	took := time.Since(began)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	t.Logf("submission answered after %v, the data not yet read", took)
	if len(spec.ID) != 16 || spec.Batch != 32 {
		t.Fatalf("submitted spec %+v", spec)
	}
	if j, err := c0.Job(ctx, spec.ID); err != nil || j.State != controlapi.JobPreparing {
		t.Fatalf("job while its data is read: %+v, %v", j.State, err)
	}

	// The data arrives.
	days, err := os.ReadFile(datatest.DaysTSV(t, 60))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(pipe, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		_, _ = f.Write(days)
	}()
	j := waitJob(t, ctx, c0, spec.ID, "node 1's refusal", func(j controlapi.Job) bool { return len(j.Refusals) > 0 })
	if r := j.Refusals[0]; r.Peer == "" || r.Reason != "policy" || !strings.Contains(r.Detail, "--jobs off") || j.Shards != 3 {
		t.Errorf("refusal seen by the submitter: %+v (job %s, %d shards)", r, j.State, j.Shards)
	}
	if _, err := c1.Job(ctx, spec.ID); err == nil {
		t.Error("node 1 lists a job it refused")
	}

	pending := func() []controlapi.Job {
		p, err := c2.PendingJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waitJob(t, ctx, c2, spec.ID, "node 2 to hold the job", func(j controlapi.Job) bool { return j.State == controlapi.JobPending })
	if p := pending(); len(p) != 1 || p[0].ID != spec.ID || p[0].Expires.IsZero() {
		t.Fatalf("node 2's pending jobs: %+v", p)
	}
	if n2.Jobs().Known(spec.ID) {
		t.Fatal("node 2 runs a job its operator has not accepted")
	}
	if _, err := c1.AcceptJob(ctx, spec.ID); err == nil {
		t.Error("node 1 accepted a job it does not hold")
	}
	res, err := c2.AcceptJob(ctx, spec.ID)
	if err != nil || res.State != controlapi.JobJoined {
		t.Fatalf("accept: %+v, %v", res, err)
	}
	if _, err := c2.AcceptJob(ctx, spec.ID); err == nil || !strings.Contains(err.Error(), "runs here already") {
		t.Errorf("second accept: %v", err)
	}
	if len(pending()) != 0 {
		t.Error("an accepted job is still pending")
	}
	waitJob(t, ctx, c0, spec.ID, "node 2 to join", func(j controlapi.Job) bool { return j.Members == 2 })
	if _, err := c0.CancelJob(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}
