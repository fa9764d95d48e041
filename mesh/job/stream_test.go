package job

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// TestTrainsWhileShardsStreamIn: a joining peer starts training once it
// holds its first shard, not after fetching every shard it owns. The
// submitter serves the probe and one shard, then holds every further
// shard request until the joiner reports training steps; a joiner that
// waited for all its shards would never train and the test times out.
// Released, the job ends with agreeing models.
func TestTrainsWhileShardsStreamIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := startCancelPeer(t, ctx, psk, nil)
	b := startCancelPeer(t, ctx, psk, a.node.Addrs())
	release := make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	defer open()
	var served atomic.Int32
	serve := shards.Handler(a.jobs.Shards())
	a.node.Host().SetStreamHandler(a.node.Protocol(shards.ProtocolName), func(s network.Stream) {
		if served.Add(1) > 2 { // the probe and one training shard pass
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		serve(s)
	})

	data := filepath.Join(t.TempDir(), "days.tsv")
	var rows strings.Builder
	for i := range 400 {
		if i%2 == 0 {
			fmt.Fprintf(&rows, "good\ta good day %d\n", i)
		} else {
			fmt.Fprintf(&rows, "bad\ta bad day %d\n", i)
		}
	}
	if err := os.WriteFile(data, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	events, stop := b.jobs.Subscribe()
	defer stop()
	spec, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: data, Epochs: 20, MinPeers: 2, ShardRows: 20})
	if err != nil {
		t.Fatal(err)
	}
	var trainingWith, total int
	trainCtx, cancelTrain := context.WithTimeout(ctx, 20*time.Second)
	defer cancelTrain()
	waitFor(t, trainCtx, events, "the joiner to train while its shards are held back", func() bool {
		in, ok := infoOf(b.jobs, spec.ID)
		if ok && in.Self.Step > 0 {
			trainingWith, total = in.ShardsHeld, in.Shards
			return true
		}
		return false
	})
	open()
	// The probe and one training shard: with two peers and replication 2
	// the joiner owns every shard and trains on about half.
	if trainingWith >= total/2 {
		t.Errorf("the joiner trained only once it held %d of %d shards", trainingWith, total)
	}
	ra, err := a.jobs.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.jobs.Wait(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ra.ParamsHash == "" || ra.ParamsHash != rb.ParamsHash {
		t.Errorf("final models differ: %q and %q", ra.ParamsHash, rb.ParamsHash)
	}
}
