package testnet

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestEveryPeerHasAModelServer: each node's model server listens on a
// loopback port of its own (KServe v2 liveness answers), and ServeAddr is
// empty while a node is killed.
func TestEveryPeerHasAModelServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), bound(30*time.Second))
	defer cancel()
	net, err := Start(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	seen := map[string]bool{}
	for i := range net.Len() {
		addr := net.ServeAddr(i)
		if addr == "" || seen[addr] {
			t.Fatalf("node %d model server at %q (seen: %v)", i, addr, seen)
		}
		seen[addr] = true
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/health/live", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("node %d model server: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("node %d /v2/health/live: %s", i, resp.Status)
		}
	}
	if err := net.Kill(1); err != nil {
		t.Fatal(err)
	}
	if addr := net.ServeAddr(1); addr != "" {
		t.Fatalf("killed node 1 still has a model server at %s", addr)
	}
}
