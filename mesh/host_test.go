package mesh

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// TestPerPeerStreamLimit: a member that opens far more streams of one
// protocol than the limit gets perProtocolPeerInboundStreams of them
// answered (the rest reset by the resource manager), however much memory
// this machine has (the default limit grows with it), and the node still
// answers another peer.
func TestPerPeerStreamLimit(t *testing.T) {
	key := testKey(t, 14)
	n := startNode(t, key, "target")
	other := startNode(t, key, "other", n.Addrs()[0])
	waitPeers(t, n, 10*time.Second, other.ID())
	h, err := libp2p.New(libp2p.PrivateNetwork(key), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	const tries = 2 * perPeerInboundStreams
	answered := 0
	var held []network.Stream
	buf, echo := make([]byte, 32), make([]byte, 32)
	for range tries {
		s, err := h.NewStream(ctx, n.ID(), ping.ID)
		if err != nil {
			continue
		}
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		rand.Read(buf)
		if _, err := s.Write(buf); err == nil {
			if _, err := io.ReadFull(s, echo); err == nil && bytes.Equal(buf, echo) {
				answered++
				held = append(held, s)
				continue
			}
		}
		s.Reset()
	}
	t.Logf("%d of %d streams answered", answered, tries)
	if answered != perProtocolPeerInboundStreams {
		t.Errorf("%d of %d streams answered, want %d", answered, tries, perProtocolPeerInboundStreams)
	}
	// Another peer is still served while they are held.
	if res := <-ping.Ping(ctx, other.Host(), n.ID()); res.Error != nil {
		t.Errorf("the other peer's ping failed: %v", res.Error)
	}
	for _, s := range held {
		s.Reset()
	}
}
