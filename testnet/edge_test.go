package testnet

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// poll checks cond every 20 ms until it holds, for at most 30 s: what a
// heartbeat carries (models held, served) changes no peer table, so
// WaitFor is not woken by it.
func poll(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}

// TestEdgePeerServesAJobsModel is issue 13's testnet check: in a mesh of
// two full peers and one edge peer, a job that asks for no edge peers
// trains on the full ones only (the edge takes no shards); the edge then
// pulls the job's model (no peer serves an int8 form, so it quantizes the
// float file itself), serves it, and once the full peers unload it a
// query to a full peer is routed to the edge and answered with the float
// model's labels on 100 real MNIST test images.
func TestEdgePeerServesAJobsModel(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on MNIST: skipped with -short")
	}
	dir := mnistDir(t)
	_, te, err := data.LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const edge = 2
	net, err := Start(ctx, 3, WithNodeConfig(func(i int, c *mesh.Config) {
		if i == edge {
			c.Role = mesh.RoleEdge
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	if err := net.WaitFor(ctx, (*Net).Converged); err != nil {
		t.Fatal(err)
	}
	spec, err := net.Jobs(0).Submit(ctx, job.Spec{Model: "mlp", Name: "digits", Data: dir, Epochs: 1, LR: 2e-3,
		ShardRows: 2000, Seed: 1, MinPeers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var res *job.Result
	for i := range edge {
		if res, err = net.Jobs(i).Wait(ctx, spec.ID); err != nil {
			t.Fatalf("peer %d: %v", i, err)
		}
	}
	if slices.ContainsFunc(net.Jobs(edge).Jobs(), func(j job.Info) bool { return j.Spec.ID == spec.ID }) || len(net.Jobs(edge).Shards().IDs()) != 0 {
		t.Fatalf("the edge peer took part in a job that asked for no edge peers (%d shards)", len(net.Jobs(edge).Shards().IDs()))
	}
	float, err := artifact.Load(res.ModelPath)
	if err != nil {
		t.Fatal(err)
	}

	ce := net.Client(edge)
	poll(t, ctx, "the edge hears peer 0 hold digits", func() bool {
		p, ok := net.Node(edge).Peer(net.ID(0))
		return ok && slices.Contains(p.Models, "digits")
	})
	pr, err := ce.PullModel(ctx, "digits", controlapi.PullRequest{})
	if err != nil || !pr.Int8 || !pr.QuantizedHere || pr.SHA256 != res.ModelHash {
		t.Fatalf("edge pull: %+v, %v; want the job's float file, quantized here", pr, err)
	}
	eid := net.ID(edge).String()
	poll(t, ctx, "the full peers hear the edge serve digits as int8", func() bool {
		for _, i := range []int{0, 1} {
			p, ok := net.Node(i).Peer(net.ID(edge))
			if !ok || !slices.ContainsFunc(p.Served, func(s mesh.ServedModel) bool { return s.Name == "digits" && s.Int8 }) {
				return false
			}
		}
		return true
	})
	for i := range edge {
		if err := net.Client(i).SetModelServing(ctx, "digits", false); err != nil {
			t.Fatal(err)
		}
	}
	agree := 0
	const n = 100
	for lo := 0; lo < n; lo += 25 {
		var req controlapi.PredictRequest
		var want []string
		for i := lo; i < lo+25; i++ {
			x := te.X[i*784 : (i+1)*784]
			b, _ := json.Marshal(x)
			req.Inputs = append(req.Inputs, b)
			p, err := float.PredictVectors([][]float32{x})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, p[0].Label)
		}
		got, err := net.Client(0).PredictModel(ctx, "digits", req)
		if err != nil {
			t.Fatalf("query on peer 0: %v", err)
		}
		if got.ServedBy != eid {
			t.Fatalf("query on peer 0 served by %q, want the edge %s", got.ServedBy, eid)
		}
		for i, p := range got.Predictions {
			if p.Label == want[i] {
				agree++
			}
		}
	}
	t.Logf("edge (int8) answered %d of %d as the job's float model", agree, n)
	if agree < 97 {
		t.Errorf("the edge's int8 answers agree with the float model on %d of %d images", agree, n)
	}
}
