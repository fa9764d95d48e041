package mesh

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
)

func testKey(t *testing.T, b byte) pnet.PSK {
	t.Helper()
	psk := make([]byte, 32)
	for i := range psk {
		psk[i] = b + byte(i)
	}
	return psk
}

func startNode(t *testing.T, psk pnet.PSK, name string, boot ...string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{
		PSK: psk, Name: name, Bootstrap: boot, DataDir: t.TempDir(),
		HeartbeatInterval: 200 * time.Millisecond, PeerTimeout: time.Second,
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitPeers waits, on events, until n lists exactly the given peers.
func waitPeers(t *testing.T, n *Node, d time.Duration, want ...peer.ID) {
	t.Helper()
	ev, cancel := n.Subscribe()
	defer cancel()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if samePeers(n.Peers(), want) {
			return
		}
		select {
		case <-ev:
		case <-deadline.C:
			t.Fatalf("%s: after %v lists %v, want %v", n.cfg.Name, d, ids(n.Peers()), want)
		}
	}
}

func ids(ps []PeerInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func samePeers(ps []PeerInfo, want []peer.ID) bool {
	if len(ps) != len(want) {
		return false
	}
	m := map[string]bool{}
	for _, p := range ps {
		m[p.ID] = true
	}
	for _, w := range want {
		if !m[w.String()] {
			return false
		}
	}
	return true
}

func TestTwoNodesSameKeyAndIntruder(t *testing.T) {
	key := testKey(t, 1)
	a := startNode(t, key, "a")
	b := startNode(t, key, "b", a.Addrs()[0])
	waitPeers(t, a, 5*time.Second, b.ID())
	waitPeers(t, b, 5*time.Second, a.ID())
	if got := a.Peers()[0]; got.Name != "b" || got.Role != RoleFull || !got.Alive || got.Cores <= 0 {
		t.Errorf("a sees b as %+v", got)
	}
	if a.MeshID() != b.MeshID() || !strings.HasPrefix(a.Topic("x"), "/shoal/"+a.MeshID()+"/") {
		t.Errorf("mesh ids %s %s topic %s", a.MeshID(), b.MeshID(), a.Topic("x"))
	}

	// A node with another key cannot connect; the error says why.
	c := startNode(t, testKey(t, 2), "c")
	if a.MeshID() == c.MeshID() {
		t.Fatal("different keys, same mesh id")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Connect(ctx, a.Addrs()[0])
	var re *ReachError
	if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), "wrong mesh key or peer unreachable") {
		t.Fatalf("connect with wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	if _, err := a.Connect(ctx, c.Addrs()[0]); err == nil {
		t.Fatal("a reached c, which has another key")
	}
	for _, n := range []*Node{a, b} {
		for _, p := range n.Peers() {
			if p.ID == c.ID().String() {
				t.Errorf("%s lists the intruder", n.cfg.Name)
			}
		}
	}
	if len(c.Peers()) != 0 {
		t.Errorf("intruder lists %v", ids(c.Peers()))
	}
}

func TestDenyUndenyAllowList(t *testing.T) {
	key := testKey(t, 3)
	a := startNode(t, key, "a")
	b := startNode(t, key, "b", a.Addrs()[0])
	c := startNode(t, key, "c", a.Addrs()[0])
	waitPeers(t, a, 5*time.Second, b.ID(), c.ID())
	waitPeers(t, c, 5*time.Second, a.ID(), b.ID())

	a.Deny(b.ID())
	waitPeers(t, a, 5*time.Second, c.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// b's dial may complete its half of the handshake before a's gater
	// closes it; what matters is that a never holds the connection.
	_, _ = b.Connect(ctx, a.Addrs()[0])
	if a.Host().Network().Connectedness(b.ID()) == network.Connected {
		t.Error("a holds a connection from denied peer b")
	}
	if _, err := a.Connect(ctx, b.Addrs()[0]); err == nil {
		t.Error("a dialled denied peer b")
	}
	a.Undeny(b.ID())
	waitPeers(t, a, 5*time.Second, b.ID(), c.ID())

	a.SetAllowList([]peer.ID{c.ID()})
	waitPeers(t, a, 5*time.Second, c.ID())
	a.SetAllowList(nil)
	a.Undeny(b.ID()) // dials again
	waitPeers(t, a, 5*time.Second, b.ID(), c.ID())
}

func TestKilledPeerDropped(t *testing.T) {
	key := testKey(t, 4)
	a := startNode(t, key, "a")
	b := startNode(t, key, "b", a.Addrs()[0])
	waitPeers(t, a, 5*time.Second, b.ID())
	start := time.Now()
	b.Close()
	waitPeers(t, a, 3*time.Second)
	t.Logf("dropped after %v", time.Since(start))
}

func TestIdentityPersists(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t, 5)
	ctx := context.Background()
	n1, err := Start(ctx, Config{PSK: key, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id := n1.ID()
	n1.Close()
	n2, err := Start(ctx, Config{PSK: key, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	if n2.ID() != id {
		t.Fatalf("identity changed: %s then %s", id, n2.ID())
	}
}

func TestJoinTopicNeedsValidator(t *testing.T) {
	n := startNode(t, testKey(t, 6), "a")
	if _, err := n.JoinTopic("x", nil); err == nil {
		t.Error("joined a topic without a validator")
	}
	if _, err := n.JoinTopic("x", func(peer.ID, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := n.JoinTopic("x", func(peer.ID, []byte) error { return nil }); err == nil {
		t.Error("joined a topic twice")
	}
}

func TestStartRefusesQUIC(t *testing.T) {
	_, err := Start(context.Background(), Config{PSK: testKey(t, 7), Listen: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}})
	if err == nil || !strings.Contains(err.Error(), "only TCP and WebSocket") {
		t.Fatalf("got %v", err)
	}
}

func TestSelfAndPresenceExtra(t *testing.T) {
	ctx := context.Background()
	n, err := Start(ctx, Config{PSK: testKey(t, 8), Name: "me", Role: RoleEdge,
		PresenceExtra: func() PresenceExtra { return PresenceExtra{Models: []string{"mlp"}, Load: 0.25} }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s := n.Self()
	if s.Name != "me" || s.Role != RoleEdge || s.ID != n.ID().String() || len(s.Addrs) == 0 ||
		len(s.Models) != 1 || s.Load != 0.25 || !strings.Contains(s.Addrs[0], "/p2p/"+n.ID().String()) {
		t.Fatalf("self: %+v", s)
	}
}
