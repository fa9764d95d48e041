package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// node is one `shoal up` process pinned to one CPU with taskset.
type node struct {
	name    string
	cpu     int
	dataDir string
	id      string
	addr    string // /ip4/127.0.0.1/tcp/PORT/p2p/ID, what the others bootstrap from
	listen  string
	api     string

	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
}

// newNode gives a node its data dir, identity and ports. The identity is
// made with `shoal id` before any node starts, so every node can be told
// every other's address with --bootstrap.
func newNode(ctx context.Context, bin, dir, name string, cpu int) (*node, error) {
	n := &node{name: name, cpu: cpu, dataDir: filepath.Join(dir, name)}
	lport, err := freePort()
	if err != nil {
		return nil, err
	}
	aport, err := freePort()
	if err != nil {
		return nil, err
	}
	n.listen = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", lport)
	n.api = "127.0.0.1:" + strconv.Itoa(aport)
	out, err := exec.CommandContext(ctx, bin, "id", "--data-dir", n.dataDir, "--listen", n.listen, "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("shoal id for %s: %w", name, err)
	}
	var id struct {
		ID    string   `json:"id"`
		Addrs []string `json:"addrs"`
	}
	if err := json.Unmarshal(out, &id); err != nil || len(id.Addrs) != 1 {
		return nil, fmt.Errorf("shoal id for %s: unexpected output %q", name, out)
	}
	n.id, n.addr = id.ID, id.Addrs[0]
	return n, nil
}

// start runs `taskset -c CPU shoal up` with every other node as a
// bootstrap peer and waits for its control API to answer.
func (n *node) start(ctx context.Context, bin, key, xdg string, others []*node) error {
	args := []string{"-c", strconv.Itoa(n.cpu), bin, "up", "--headless", "--no-mdns",
		"--data-dir", n.dataDir, "--key", key, "--name", n.name,
		"--listen", n.listen, "--api", n.api, "--http", "127.0.0.1:0"}
	for _, o := range others {
		args = append(args, "--bootstrap", o.addr)
	}
	n.cmd = exec.Command("taskset", args...)
	n.cmd.Env = append(os.Environ(), "SHOAL_DATA_DIR=", "XDG_DATA_HOME="+xdg)
	// The node dies with this program, whatever ends it.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.log = &syncBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		if c, err := n.client(); err == nil {
			if self, err := c.Self(ctx); err == nil {
				if self.ID != n.id {
					return fmt.Errorf("%s came up as %s, want %s", n.name, self.ID, n.id)
				}
				return nil
			}
		}
		if err := n.pause(ctx, deadline, "its control API to answer"); err != nil {
			return err
		}
	}
}

// pause waits a poll interval; it fails when the node exited, ctx ended or
// the deadline passed.
func (n *node) pause(ctx context.Context, deadline time.Time, what string) error {
	if time.Now().After(deadline) {
		return fmt.Errorf("%s: gave up waiting for %s\n%s", n.name, what, n.log.tail())
	}
	select {
	case <-n.exited:
		return fmt.Errorf("%s exited while waiting for %s\n%s", n.name, what, n.log.tail())
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(pollEvery):
		return nil
	}
}

func (n *node) client() (*controlapi.Client, error) {
	return controlapi.NewFromDataDir(n.api, n.dataDir)
}

// waitPeers waits until the node lists every other node as alive.
func (n *node) waitPeers(ctx context.Context, others []*node) error {
	c, err := n.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		if ps, err := c.Peers(ctx); err == nil {
			seen := 0
			for _, o := range others {
				if slices.ContainsFunc(ps, func(p controlapi.Peer) bool { return p.ID == o.id && p.Alive }) {
					seen++
				}
			}
			if seen == len(others) {
				return nil
			}
		}
		if err := n.pause(ctx, deadline, "its peers"); err != nil {
			return err
		}
	}
}

// stop sends SIGTERM and waits for the process, killing it after
// stopTimeout.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a process's output, written by exec's copier goroutine and
// read when something went wrong.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// tail is the last few kB of the output.
func (s *syncBuffer) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.b.Bytes()
	return string(b[max(0, len(b)-4096):])
}
