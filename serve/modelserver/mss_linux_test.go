package modelserver

import (
	"context"
	"net"
	"syscall"
	"testing"
)

// TestLoopbackListenerClampsSegments: a client of a loopback model server
// sends Ethernet-sized segments, not loopback's 64 KiB ones (see
// loopbackMSS), and a plain loopback listener would not.
func TestLoopbackListenerClampsSegments(t *testing.T) {
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Catalog: emptyCatalog{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := clientMSS(t, s.Addr().String()); got > loopbackMSS {
		t.Fatalf("a client's segments are %d bytes, want ≤ %d", got, loopbackMSS)
	}
	// What the clamp changes: an unclamped loopback listener.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	if got := clientMSS(t, ln.Addr().String()); got <= loopbackMSS {
		t.Skipf("this machine's loopback segments are %d bytes already: nothing to compare", got)
	}
}

// clientMSS dials addr and returns the connection's maximum segment size.
func clientMSS(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var mss int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		mss, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return mss
}
