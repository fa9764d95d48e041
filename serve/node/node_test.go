package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/modelserver"
)

// testConfig is a node on 127.0.0.1 with its API on a free port (unless
// api names one), no mDNS, no DHT and fast heartbeats.
func testConfig(t *testing.T, psk pnet.PSK, name, listen string, boot []string, api string) Config {
	t.Helper()
	if api == "" {
		api = "127.0.0.1:0"
	}
	return Config{
		Mesh: mesh.Config{
			DataDir: t.TempDir(), PSK: psk, Listen: []string{listen}, Bootstrap: boot,
			Name: name, Role: mesh.RoleFull, Version: "test",
			HeartbeatInterval: 200 * time.Millisecond, PeerTimeout: 2 * time.Second,
		},
		API:   serve.ControlConfig{Addr: api},
		Serve: modelserver.Config{Addr: "127.0.0.1:0"},
	}
}

func startNode(t *testing.T, ctx context.Context, psk pnet.PSK, name, listen string, boot []string, api string) (*Node, error) {
	t.Helper()
	return Start(ctx, testConfig(t, psk, name, listen, boot, api))
}

// twoNodes starts nodes a and b of a fresh mesh, b bootstrapping from a;
// both close when the test ends (a test may close them earlier: Close is
// idempotent).
func twoNodes(t *testing.T, ctx context.Context) (a, b *Node) {
	t.Helper()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if a, err = startNode(t, ctx, psk, "a", mesh.DefaultListen, nil, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = startNode(t, ctx, psk, "b", mesh.DefaultListen, a.Mesh().Addrs(), ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestTwoNodesThroughTheAssembly starts two whole nodes and checks what the
// assembly promises: the control API answers with the node's mesh identity
// and peers, the heartbeats carry the models the store holds, every shoal
// protocol sits under the mesh id, and Close stops the API and leaves the
// mesh (the other node hears it leave).
func TestTwoNodesThroughTheAssembly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := twoNodes(t, ctx)

	// The token in the data dir opens the API, as `shoal peers` would.
	ca, err := controlapi.NewFromDataDir(a.APIAddr(), a.Mesh().DataPath())
	if err != nil {
		t.Fatal(err)
	}
	self, err := ca.Self(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if self.ID != a.Mesh().ID().String() || self.Name != "a" {
		t.Fatalf("API self = %s %q, want node a %s", self.ID, self.Name, a.Mesh().ID())
	}

	// A model published to b's store shows up in b's heartbeats, seen by a
	// through its API's event stream.
	data, _, err := modelfile.Encode([]modelfile.Tensor{{Name: "w", DType: "F32", Shape: []int{1}, Data: make([]byte, 4)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	events, err := ca.Events(ectx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Models().Publish("digits", data); err != nil {
		t.Fatal(err)
	}
	bid := b.Mesh().ID().String()
	for seen := false; !seen; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			seen = ev.Peer != nil && ev.Peer.ID == bid && slices.Contains(ev.Peer.Models, "digits")
		case <-ctx.Done():
			t.Fatal("a never heard b's model in a heartbeat")
		}
	}
	peers, err := ca.Peers(ctx)
	if err != nil || len(peers) != 1 || peers[0].ID != bid {
		t.Fatalf("API peers = %v, %v; want just b", peers, err)
	}

	// Every shoal protocol of the host is under this mesh's id.
	prefix := "/shoal/" + a.Mesh().MeshID() + "/"
	var shoal []string
	for _, p := range a.Mesh().Host().Mux().Protocols() {
		if strings.HasPrefix(string(p), "/shoal/") {
			shoal = append(shoal, string(p))
			if !strings.HasPrefix(string(p), prefix) {
				t.Errorf("protocol %s is not under %s", p, prefix)
			}
		}
	}
	for _, want := range []string{prefix + "params/1.0.0", prefix + "shard/1.0.0"} {
		if !slices.Contains(shoal, want) {
			t.Errorf("protocol %s not served (have %v)", want, shoal)
		}
	}

	// Close: the API stops answering, and a hears b leave.
	left := make(chan struct{})
	go func() {
		defer close(left)
		for ev := range events {
			if ev.Type == "peer_left" && ev.Peer != nil && ev.Peer.ID == bid {
				return
			}
		}
	}()
	bAPI := b.APIAddr()
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", bAPI, time.Second); err == nil {
		c.Close()
		t.Errorf("b's API still accepts connections after Close")
	}
	select {
	case <-left:
	case <-ctx.Done():
		t.Fatal("a never heard b leave")
	}
}

// TestFailedStartReleasesEverything: a node whose API cannot bind fails to
// start with that error, and the mesh host it had already started is
// closed again (its port is free for the next try).
func TestFailedStartReleasesEverything(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t))

	_, err = startNode(t, ctx, psk, "x", listen, nil, taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "control API") {
		t.Fatalf("start with a taken API port: %v, want a control API error", err)
	}
	n, err := startNode(t, ctx, psk, "x", listen, nil, "")
	if err != nil {
		t.Fatalf("restart on the same mesh port: %v (the failed start kept it)", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := Start(ctx, Config{}); err == nil {
		t.Fatal("start without a data dir succeeded")
	}
	_, err = startNode(t, ctx, psk, "y", mesh.DefaultListen, nil, "0.0.0.0:0")
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("start with a non-loopback API: %v, want a refusal", err)
	}
}
