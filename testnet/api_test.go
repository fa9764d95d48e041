package testnet

import (
	"context"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// TestEveryPeerHasAControlAPI: each node of a Net serves its own control API
// on a loopback port, reachable with the token in its data dir as the CLI
// and the console reach it, and a restarted node serves it again.
func TestEveryPeerHasAControlAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), bound(30*time.Second))
	defer cancel()
	net, err := Start(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	waitFor(t, net, 10*time.Second, "convergence", (*Net).Converged)

	check := func(i int) {
		t.Helper()
		c, err := controlapi.NewFromDataDir(net.APIAddr(i), net.DataDir(i))
		if err != nil {
			t.Fatal(err)
		}
		self, err := c.Self(ctx)
		if err != nil || self.ID != net.ID(i).String() {
			t.Fatalf("node %d API self = %+v, %v; want %s", i, self, err, net.ID(i))
		}
		peers, err := c.Peers(ctx)
		if err != nil || len(peers) != net.Len()-1 {
			t.Fatalf("node %d API peers = %d, %v; want %d", i, len(peers), err, net.Len()-1)
		}
		if _, err := c.Jobs(ctx); err != nil {
			t.Fatalf("node %d API jobs: %v", i, err)
		}
	}
	seen := map[string]bool{}
	for i := range net.Len() {
		check(i)
		if seen[net.APIAddr(i)] {
			t.Fatalf("two nodes share the API address %s", net.APIAddr(i))
		}
		seen[net.APIAddr(i)] = true
	}

	if err := net.Kill(1); err != nil {
		t.Fatal(err)
	}
	if err := net.Restart(1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, net, 10*time.Second, "convergence after a restart", (*Net).Converged)
	check(1)
}
