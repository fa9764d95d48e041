package node

import (
	"context"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// BenchmarkSubmitMNIST measures how long a submitter waits for the answer
// to a job on MNIST (60,000 images, cut into 60 shards), on one real node:
// "cut-then-answer" is how POST /api/v1/jobs answered before (Submit:
// the answer once the data is cut and the job announced), "answer-at-once"
// the control API's route now (202 once the spec is checked). The second
// lets the cut finish, off the clock, before the next submission.
//
//	SHOAL_MNIST=$(make -s mnist) go test -run '^$' -bench SubmitMNIST -benchtime 3x ./serve/node
func BenchmarkSubmitMNIST(b *testing.B) {
	data := datatest.MNIST(b)
	ctx := context.Background()
	psk, err := mesh.NewKey()
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		Mesh: mesh.Config{DataDir: b.TempDir(), PSK: psk, Listen: []string{mesh.DefaultListen}, Name: "bench",
			Role: mesh.RoleFull, Version: "test"},
		NoServe: true,
	}
	cfg.API.Addr = "127.0.0.1:0"
	cfg.Jobs.MaxJobs = 1 << 10 // every submission waits for members that never come
	cfg.Jobs.MemBudget = -1
	n, err := Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	c := n.APIClient()
	seed := uint64(0)
	spec := func() controlapi.JobSpec {
		seed++
		return controlapi.JobSpec{Model: "mlp", Data: data, MinPeers: 2, Seed: seed}
	}
	cancel := func(id string) {
		if _, err := c.CancelJob(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cut-then-answer", func(b *testing.B) {
		for b.Loop() {
			s := spec()
			filled, err := n.Jobs().Submit(ctx, job.Spec{Model: s.Model, Data: s.Data, MinPeers: s.MinPeers, Seed: s.Seed})
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			cancel(filled.ID)
			b.StartTimer()
		}
	})
	b.Run("answer-at-once", func(b *testing.B) {
		for b.Loop() {
			filled, err := c.SubmitJob(ctx, spec())
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			wctx, stop := context.WithTimeout(ctx, 5*time.Minute)
			for {
				j, err := c.Job(wctx, filled.ID)
				if err != nil {
					b.Fatal(err)
				}
				if j.State != controlapi.JobPreparing {
					break
				}
				time.Sleep(20 * time.Millisecond) // polling interval
			}
			stop()
			cancel(filled.ID)
			b.StartTimer()
		}
	})
}
