package netns

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needNetns(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipped: %v", err)
	}
}

// listenEcho starts an echo server inside nd on port.
func listenEcho(t *testing.T, nd *Node, port string) string {
	t.Helper()
	ln, err := nd.Listen("tcp", net.JoinHostPort(nd.IP, port))
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
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func reach(n *Net, from int, addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	return n.Reachable(ctx, from, addr)
}

// TestNetFaults builds a two-node net and checks that the nodes reach each
// other, that a partition and 100% loss cut them off and healing restores
// them, that the rate cap slows a transfer, and that Close leaves nothing.
func TestNetFaults(t *testing.T) {
	needNetns(t)
	n, err := NewNet(2)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	nodes := n.Nodes()
	addr := listenEcho(t, nodes[1], "5000")
	// The listening socket is inside node 1's namespace (ss run there
	// lists it). No dial from the host's namespace is tried: its default
	// route leads off this machine.
	if out, err := nodes[1].Run(context.Background(), "ss", "-ltn"); err != nil {
		t.Logf("ss not run: %v", err)
	} else if !strings.Contains(string(out), addr) {
		t.Fatalf("node 1's namespace does not list %s:\n%s", addr, out)
	}
	if !reach(n, 0, addr) {
		t.Fatal("node 0 cannot reach node 1")
	}
	if err := n.Partition([]int{0}, []int{1}); err != nil {
		t.Fatal(err)
	}
	if reach(n, 0, addr) {
		t.Fatal("node 0 reaches node 1 across a partition")
	}
	if err := n.Heal(); err != nil {
		t.Fatal(err)
	}
	if !reach(n, 0, addr) {
		t.Fatal("node 0 cannot reach node 1 after healing")
	}
	if HasNft() {
		if err := nodes[1].Loss(100); err != nil {
			t.Fatal(err)
		}
		if reach(n, 0, addr) {
			t.Fatal("node 0 reaches node 1 through 100% loss")
		}
		if err := nodes[1].Loss(0); err != nil {
			t.Fatal(err)
		}
		if !reach(n, 0, addr) {
			t.Fatal("node 0 cannot reach node 1 after the loss stopped")
		}
	} else {
		t.Log("nft not installed: loss not checked")
	}

	// 200 KB through a 2 Mbit/s cap on node 0's sending side: about 0.8 s.
	if err := nodes[0].Rate("2mbit"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nodes[0].Dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 200_000)
	start := time.Now()
	go func() { _, _ = c.Write(msg) }()
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("200 KB echoed through a 2 Mbit/s tbf in %v (%.2f Mbit/s)", took.Round(time.Millisecond), float64(len(msg))*8/1e6/took.Seconds())
	if took < 500*time.Millisecond {
		t.Errorf("200 KB through 2 Mbit/s took %v, want about 0.8 s", took)
	}
	if err := nodes[0].Rate(""); err != nil {
		t.Fatal(err)
	}

	names := []string{n.Hub.Name, nodes[0].Name, nodes[1].Name}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
			t.Errorf("%s still exists after Close", name)
		}
	}
}

// TestSweep removes a namespace left by a process that no longer runs and
// keeps this process's own.
func TestSweep(t *testing.T) {
	needNetns(t)
	// A pid above pid_max's largest default never runs.
	stale := namePrefix + "4999999-1-hub"
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", stale).Run()
	mine, err := New("sweep-check")
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Delete()
	gone, err := Sweep()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range gone {
		found = found || g == stale
		if g == mine.Name {
			t.Errorf("Sweep removed this process's %s", g)
		}
	}
	if !found {
		t.Errorf("Sweep removed %v, not the stale %s", gone, stale)
	}
}
