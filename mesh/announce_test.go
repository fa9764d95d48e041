package mesh

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// forwarder relays every TCP connection it accepts to upstream and counts
// them: a stand-in for a port forward in front of a node.
func forwarder(t *testing.T, upstream string) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String(), conns
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestAnnounceReplacesListenAddrs: a node told to announce the address of
// a forwarder in front of it says only that address (in Addrs and in its
// heartbeats), and a peer reaches it through the forwarder.
func TestAnnounceReplacesListenAddrs(t *testing.T) {
	psk := testKey(t, 9)
	port := freeTCPPort(t)
	fwd, conns := forwarder(t, fmt.Sprintf("127.0.0.1:%d", port))
	_, fwdPort, _ := net.SplitHostPort(fwd)
	announce := "/ip4/127.0.0.1/tcp/" + fwdPort
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := Start(ctx, Config{
		PSK: psk, Name: "a", DataDir: t.TempDir(),
		Listen:   []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)},
		Announce: []string{announce},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := announce + "/p2p/" + a.ID().String()
	if got := a.Addrs(); !slices.Equal(got, []string{want}) {
		t.Fatalf("Addrs = %v, want [%s]", got, want)
	}
	b := startNode(t, psk, "b", a.Addrs()...)
	waitPeers(t, b, 10*time.Second, a.ID())
	if conns.Load() == 0 {
		t.Fatal("b reached a without the forwarder")
	}
	for _, p := range b.Peers() {
		if p.ID == a.ID().String() && !slices.Equal(p.Addrs, []string{announce}) {
			t.Errorf("a's heartbeat says %v, want [%s]", p.Addrs, announce)
		}
	}

	if _, err := Start(ctx, Config{PSK: psk, Announce: []string{"/ip4/127.0.0.1/udp/1/quic-v1"}}); err == nil {
		t.Error("a QUIC announce address was accepted on a private mesh")
	}
}
