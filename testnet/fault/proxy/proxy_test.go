package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every connection by echoing it; it stops with the test.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func startProxy(t *testing.T, f Faults) *Proxy {
	t.Helper()
	p, err := Forward("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.SetFaults(f)
	return p
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, sent %q", got, msg)
	}
	return time.Since(start)
}

// TestLatency: a round trip through the proxy to an echo server passes it
// twice, so it takes at least 2×(Latency-Jitter); the median is logged.
func TestLatency(t *testing.T) {
	const lat, jit = 30 * time.Millisecond, 5 * time.Millisecond
	p := startProxy(t, Faults{Latency: lat, Jitter: jit})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var worst, best time.Duration = 0, time.Hour
	for range 10 {
		d := roundTrip(t, c, []byte("ping"))
		worst, best = max(worst, d), min(best, d)
	}
	t.Logf("round trips with %v ± %v each way: %v .. %v", lat, jit, best.Round(time.Millisecond), worst.Round(time.Millisecond))
	if best < 2*(lat-jit) {
		t.Errorf("fastest round trip %v, want at least %v", best, 2*(lat-jit))
	}
	// Changing the faults on an open connection takes effect.
	p.SetFaults(Faults{})
	if d := roundTrip(t, c, []byte("fast")); d >= 2*(lat-jit) {
		t.Errorf("after clearing the latency a round trip took %v", d)
	}
}

// TestJitterKeepsOrder streams numbered records through heavy jitter and
// checks every byte arrives, in order.
func TestJitterKeepsOrder(t *testing.T) {
	p := startProxy(t, Faults{Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 2000
	sent := sha256.New()
	go func() {
		for i := range n {
			var rec [64]byte
			binary.BigEndian.PutUint64(rec[:], uint64(i))
			sent.Write(rec[:])
			if _, err := c.Write(rec[:]); err != nil {
				return
			}
		}
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got := sha256.New()
	for i := range n {
		var rec [64]byte
		if _, err := io.ReadFull(c, rec[:]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if k := binary.BigEndian.Uint64(rec[:]); k != uint64(i) {
			t.Fatalf("record %d arrived as %d-th", k, i)
		}
		got.Write(rec[:])
	}
	// The half close came through too: the echo server saw EOF and closed.
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("after the last record: %v, want EOF", err)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Error("hashes differ")
	}
}

// TestRate sends 600 KiB through a 2 MiB/s cap: it takes about 0.3 s
// (the bucket lets a tenth of a second through at once), where loopback
// alone takes milliseconds.
func TestRate(t *testing.T) {
	const rate = 2 << 20
	p := startProxy(t, Faults{Rate: rate})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("x"), 600<<10)
	d := roundTrip(t, c, msg)
	t.Logf("600 KiB echoed through a %d KiB/s cap in %v (%.0f KiB/s each way)", rate>>10, d.Round(time.Millisecond), float64(len(msg))/1024/d.Seconds())
	if d < 200*time.Millisecond {
		t.Errorf("600 KiB at %d B/s took %v, want about 300 ms", rate, d)
	}
	if s := p.Stats(); s.Up != int64(len(msg)) || s.Down != int64(len(msg)) {
		t.Errorf("stats %+v, want %d each way", s, len(msg))
	}
}

// TestCut: an open connection is reset, a new one is refused, and after
// Restore connections pass again.
func TestCut(t *testing.T) {
	p := startProxy(t, Faults{})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, []byte("before"))
	p.Cut()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on a cut link succeeded")
	}
	c2, err := net.Dial("tcp", p.Addr().String())
	if err == nil {
		_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Read(make([]byte, 1)); err == nil {
			t.Fatal("a new connection passed while cut")
		}
		c2.Close()
	}
	p.Restore()
	c3, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	roundTrip(t, c3, []byte("after"))
	if s := p.Stats(); s.Accepted != 2 || s.Refused != 1 {
		t.Errorf("stats %+v, want 2 accepted and 1 refused", s)
	}
}
