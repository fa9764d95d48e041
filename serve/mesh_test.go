package serve

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// TestMeshPairThroughControlAPI runs two real mesh nodes on loopback and
// watches, through the control API client, node A see B join and leave.
func TestMeshPairThroughControlAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two libp2p hosts")
	}
	psk := make(pnet.PSK, 32)
	for i := range psk {
		psk[i] = byte(0x5a + i)
	}
	start := func(name string, boot ...string) *mesh.Node {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n, err := mesh.Start(ctx, mesh.Config{
			PSK: psk, Name: name, Bootstrap: boot, DataDir: t.TempDir(),
			HeartbeatInterval: 200 * time.Millisecond, PeerTimeout: time.Second,
		})
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a := start("node-a")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServeControl(ctx, FromMesh(a), ControlConfig{Addr: "127.0.0.1:0", DataDir: dir, Ready: func(x net.Addr) { addrc <- x }})
	}()
	c, err := controlapi.NewFromDataDir(waitFor(t, addrc, "the control API").String(), dir)
	if err != nil {
		t.Fatal(err)
	}
	self, err := c.Self(ctx)
	if err != nil || self.ID != a.ID().String() || self.Name != "node-a" || len(self.Addrs) == 0 {
		t.Fatalf("Self = %+v, %v", self, err)
	}
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}

	b := start("node-b", a.Addrs()...)
	next := func(want string) controlapi.Event {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("event stream ended while waiting for %s", want)
				}
				if ev.Type == want && ev.Peer != nil && ev.Peer.ID == b.ID().String() {
					return ev
				}
			case <-ctx.Done():
				t.Fatalf("no %s event for node-b before the deadline", want)
			}
		}
	}
	joined := next(controlapi.EventPeerJoined)
	if joined.Peer.Name != "node-b" || joined.Time.IsZero() {
		t.Errorf("peer_joined = %+v", joined)
	}
	peers, err := c.Peers(ctx)
	if err != nil || len(peers) != 1 || peers[0].ID != b.ID().String() || !peers[0].Alive {
		t.Fatalf("Peers = %+v, %v", peers, err)
	}

	b.Close()
	left := next(controlapi.EventPeerLeft)
	if left.Reason == "" || left.Peer.Alive {
		t.Errorf("peer_left = %+v (reason %q)", left, left.Reason)
	}

	cancel()
	if err := waitFor(t, done, "the control API to stop"); err != nil {
		t.Errorf("ListenAndServeControl: %v", err)
	}
}
