package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// waitPeers waits until the node behind c lists n peers.
func waitPeers(t *testing.T, ctx context.Context, c *controlapi.Client, n int) {
	t.Helper()
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		peers, err := c.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(peers) == n {
			return
		}
		select {
		case <-events:
		case <-ctx.Done():
			t.Fatalf("node lists %d peers, want %d", len(peers), n)
		}
	}
}

// TestJobOverControlAPI runs a tiny text job on two real nodes, submitted
// through the control API of the first, and follows it there to the end.
func TestJobOverControlAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two libp2p nodes and trains a model")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(name string, boot []string) Config {
		c := testConfig(t, psk, name, mesh.DefaultListen, boot, "")
		c.Jobs.StatusTimeout = 10 * time.Second
		return c
	}
	n0, err := Start(ctx, cfg("node-0", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n0.Close() })
	n1, err := Start(ctx, cfg("node-1", n0.Mesh().Addrs()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n1.Close() })
	c, err := controlapi.NewFromDataDir(n0.APIAddr(), n0.Mesh().DataPath())
	if err != nil {
		t.Fatal(err)
	}
	waitPeers(t, ctx, c, 1)

	// Watch the raw stream for job events from before the submission on.
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := c.SubmitJob(ctx, controlapi.JobSpec{
		Model: "seed-text", Data: datatest.DaysTSV(t, 240), Holdout: 0.2, Epochs: 2, Batch: 16, LR: 0.01,
		LocalSteps: 4, MinPeers: 2, ShardRows: 48, Seed: 7, Name: "days",
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if len(spec.ID) != 16 || spec.Submitter != n0.Mesh().ID().String() || spec.Batch != 16 {
		t.Fatalf("submitted spec %+v", spec)
	}
	if _, err := c.SubmitJob(ctx, controlapi.JobSpec{Model: "seed-text", Data: filepath.Join(t.TempDir(), "none.tsv")}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing data file: %v", err)
	}

	seen := map[string]bool{}
	var states []string
	final, err := c.WaitJob(ctx, spec.ID, func(j controlapi.Job) { states = append(states, j.State) })
	if err != nil {
		t.Fatalf("wait: %v (states %v)", err, states)
	}
	if final.State != controlapi.JobDone || final.Result == nil || len(final.ModelHash) != 64 ||
		final.ModelHash != final.Result.ModelHash || final.ModelVersion != 1 || final.Members != 2 {
		t.Fatalf("final job %+v", final)
	}
	t.Logf("job %s done after states %v: accuracy %.3f, distance %.2g, %d rounds, hash %s",
		spec.ID, states, final.Result.ProbeAccuracy, final.Result.ConsensusDistance, final.Result.Rounds, final.ModelHash[:12])

	// The other node ends with the byte-identical model.
	res, err := n1.Jobs().Wait(ctx, spec.ID)
	if err != nil || res.ModelHash != final.ModelHash {
		t.Errorf("node 1: %+v, %v; want hash %s", res, err, final.ModelHash)
	}
	// The published file is what the hash says.
	b, err := os.ReadFile(final.Result.ModelPath)
	if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != final.ModelHash {
		t.Errorf("model file %s (%v) does not hash to %s", final.Result.ModelPath, err, final.ModelHash)
	}

	// Both nodes serve the new model with no restart: TF Serving's predict
	// on each answers what the model file itself predicts.
	a, err := artifact.Load(final.Result.ModelPath)
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"good day 3", "awful rainy day", "a bad bad morning 1"}
	want, err := a.PredictTexts(texts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{n0, n1} {
		got := predictOverHTTP(t, ctx, n.ServeAddr(), "days", texts)
		for i := range want {
			if got[i].Label != want[i].Label || math.Abs(got[i].Probability-want[i].Probability) > 1e-6 {
				t.Errorf("node %s, %q: served %+v, the file predicts %+v", n.Mesh().Self().Name, texts[i], got[i], want[i])
			}
		}
	}

	// The list and the event stream show the job.
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != spec.ID || jobs[0].State != controlapi.JobDone || jobs[0].ModelHash != final.ModelHash {
		t.Errorf("Jobs = %+v, %v", jobs, err)
	}
	// The shard map: the job's shard count, this node's share, and each
	// other member's (two members, replication 2: both hold every shard).
	if len(jobs) == 1 {
		j := jobs[0]
		if j.Shards == 0 || j.ShardsHeld != j.Shards || len(j.Peers) != 1 || j.Peers[0].ShardsHeld != j.Shards {
			t.Errorf("shard map: %d shards, this node %d, peers %+v", j.Shards, j.ShardsHeld, j.Peers)
		}
	}
	for !seen[controlapi.EventJobDone] {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream ended; saw %v", seen)
			}
			seen[ev.Type] = true
		case <-ctx.Done():
			t.Fatalf("no job_done on the event stream; saw %v", seen)
		}
	}
	if !seen[controlapi.EventJobAnnounced] || !seen[controlapi.EventJobStatus] {
		t.Errorf("events seen %v, want job_announced and job_status before job_done", seen)
	}
}

// TestFailedJobOverControlAPI: a job that cannot start (too few peers)
// shows as failed with its reason, and WaitJob returns that reason.
func TestFailedJobOverControlAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a libp2p node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, psk, "alone", mesh.DefaultListen, nil, "")
	cfg.Jobs.MinPeersWait = 300 * time.Millisecond
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	c := n.APIClient()
	spec, err := c.SubmitJob(ctx, controlapi.JobSpec{Model: "seed-text", Data: datatest.DaysTSV(t, 40), MinPeers: 2})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitJob(ctx, spec.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "peers joined") || j.State != controlapi.JobFailed || !strings.Contains(j.Error, "peers joined") {
		t.Fatalf("WaitJob = %+v, %v; want failed for want of peers", j, err)
	}
	if j.Result != nil || j.ModelHash != "" {
		t.Errorf("a failed job has a result: %+v", j)
	}
}

// predictOverHTTP asks TF Serving's REST predict of the model server at
// addr, waiting (within ctx) for the model to be loaded.
func predictOverHTTP(t *testing.T, ctx context.Context, addr, model string, texts []string) []artifact.Prediction {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"instances": texts})
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/models/"+model+":predict", bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			var out struct {
				Predictions []artifact.Prediction `json:"predictions"`
			}
			if err := json.Unmarshal(b, &out); err != nil || len(out.Predictions) != len(texts) {
				t.Fatalf("predict answer %s (%v)", b, err)
			}
			return out.Predictions
		}
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("predict: HTTP %d %s", resp.StatusCode, b)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("model %s never served: HTTP %d %s", model, resp.StatusCode, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
