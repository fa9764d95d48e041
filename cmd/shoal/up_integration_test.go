package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// meshLog collects a child's stderr and wakes waiters on every write.
type meshLog struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func newMeshLog() *meshLog { return &meshLog{notify: make(chan struct{}, 1)} }

func (l *meshLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(p)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (l *meshLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitMatch waits until re matches the log, or fails after d.
func (l *meshLog) waitMatch(t *testing.T, what string, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m
		}
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("%s: no %q within %v; log:\n%s", what, re, d, l.String())
		}
	}
}

type meshProc struct {
	name string
	cmd  *exec.Cmd
	log  *meshLog
	done chan error
	id   string
	addr string
	api  string
	dir  string
}

var (
	reSelf = regexp.MustCompile(`shoal up: peer (\S+) in mesh \S+, listening on:\n\s+(\S+)`)
	reAPI  = regexp.MustCompile(`control API listening.* addr=(127\.0\.0\.1:\d+)`)
)

func startMeshProc(t *testing.T, bin, name, dir string, args ...string) *meshProc {
	t.Helper()
	p := &meshProc{name: name, log: newMeshLog(), done: make(chan error, 1), dir: dir}
	all := append([]string{"up", "--headless", "--no-mdns", "--data-dir", dir, "--name", name,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0", "--http", "127.0.0.1:0"}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Stderr = p.log
	p.cmd.Env = append(os.Environ(), "SHOAL_DATA_DIR=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	m := p.log.waitMatch(t, name+" start", reSelf, 30*time.Second)
	p.id, p.addr = m[1], m[2]
	p.api = p.log.waitMatch(t, name+" api", reAPI, 30*time.Second)[1]
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *meshProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v; log:\n%s", p.name, err, p.log.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop within 20 s of SIGTERM", p.name)
	}
}

func buildShoal(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	bin := filepath.Join(t.TempDir(), "shoal")
	out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestUpProcessesSameKeyAndIntruder runs real `shoal up` processes on
// 127.0.0.1: two with one key see each other through --bootstrap; a third
// with another key is refused with a clear message and listed by neither.
func TestUpProcessesSameKeyAndIntruder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes; skipped with -short")
	}
	bin := buildShoal(t)
	root := t.TempDir()
	a := startMeshProc(t, bin, "a", filepath.Join(root, "a"))
	key := filepath.Join(root, "a", "swarm.key")
	// The join help follows the addresses; waitMatch fails the test with
	// the log if it never comes.
	a.log.waitMatch(t, "a's join help", regexp.MustCompile(`To let another machine join`), 10*time.Second)
	b := startMeshProc(t, bin, "b", filepath.Join(root, "b"), "--key", key, "--bootstrap", a.addr)
	joined := func(id string) *regexp.Regexp {
		return regexp.MustCompile(`peer joined.* peer=` + regexp.QuoteMeta(id))
	}
	a.log.waitMatch(t, "a sees b", joined(b.id), 30*time.Second)
	b.log.waitMatch(t, "b sees a", joined(a.id), 30*time.Second)
	// b was given a's key: it still prints the line a third machine joins
	// with, but does not claim to have made a key.
	b.log.waitMatch(t, "b's join help", regexp.MustCompile(`run: shoal up --key swarm.key --bootstrap /ip4/127.0.0.1/tcp/\d+/p2p/`+regexp.QuoteMeta(b.id)), 10*time.Second)
	if strings.Contains(b.log.String(), "Created a new mesh key") {
		t.Errorf("b, given a key, says it created one:\n%s", b.log.String())
	}

	c := startMeshProc(t, bin, "c", filepath.Join(root, "c"), "--bootstrap", a.addr)
	m := c.log.waitMatch(t, "c refused", regexp.MustCompile(`cannot reach peer \S+ at \S+ \(wrong mesh key or peer unreachable\)`), 30*time.Second)
	if strings.Contains(c.log.String(), "goroutine ") || strings.Contains(c.log.String(), "panic") {
		t.Errorf("intruder's log has a stack trace:\n%s", c.log.String())
	}
	t.Logf("intruder told: %s", m[0])

	// Neither a nor b lists c; a lists exactly b (asked through `shoal peers`).
	out, err := exec.Command(bin, "peers", "--json", "--api", a.api, "--data-dir", a.dir).Output()
	if err != nil {
		t.Fatalf("shoal peers: %v", err)
	}
	var peers []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out, &peers); err != nil {
		t.Fatalf("shoal peers --json: %v\n%s", err, out)
	}
	if len(peers) != 1 || peers[0].ID != b.id || peers[0].Name != "b" {
		t.Errorf("a lists %s, want only b (%s)", out, b.id)
	}
	for _, p := range []*meshProc{a, b} {
		if joined(c.id).MatchString(p.log.String()) {
			t.Errorf("%s let the intruder in:\n%s", p.name, p.log.String())
		}
	}
	if regexp.MustCompile(`peer joined`).MatchString(c.log.String()) {
		t.Errorf("intruder joined somebody:\n%s", c.log.String())
	}
	for _, p := range []*meshProc{c, b, a} {
		p.stop(t)
	}
	if !strings.Contains(a.log.String(), "shutting down") {
		t.Errorf("a did not shut down cleanly:\n%s", a.log.String())
	}
}

// TestHungPeerDroppedWithinFiveSeconds stops one of two `shoal up`
// processes with SIGSTOP (its connections stay up, as a hung machine's
// do) and measures how long the other takes to drop it: it must say
// "unresponsive" (the probe did it, not the doubled timeout of a connected
// peer) and, on these cores, within 5 s of the stop plus a second of slack
// for a loaded CI machine (the figure is logged). RTT of a peer that just
// joined is shown at once, not at the next ping round.
func TestHungPeerDroppedWithinFiveSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes; skipped with -short")
	}
	bin := buildShoal(t)
	root := t.TempDir()
	a := startMeshProc(t, bin, "a", filepath.Join(root, "a"))
	key := filepath.Join(root, "a", "swarm.key")
	b := startMeshProc(t, bin, "b", filepath.Join(root, "b"), "--key", key, "--bootstrap", a.addr)
	joined := regexp.MustCompile(`peer joined.* peer=` + regexp.QuoteMeta(b.id))
	a.log.waitMatch(t, "a sees b", joined, 30*time.Second)
	joinedAt := time.Now()

	// b's RTT is in a's table within a heartbeat or two of the join.
	var rtt time.Duration
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); rtt <= 0; <-tick.C {
		out, err := exec.Command(bin, "peers", "--json", "--api", a.api, "--data-dir", a.dir).Output()
		var peers []struct {
			ID  string        `json:"id"`
			RTT time.Duration `json:"rtt_ns"`
		}
		if err == nil && json.Unmarshal(out, &peers) == nil {
			for _, p := range peers {
				if p.ID == b.id {
					rtt = p.RTT
				}
			}
		}
		if rtt <= 0 && time.Now().After(deadline) {
			t.Fatalf("a shows no RTT for b 5 s after it joined: %s %v", out, err)
		}
	}
	t.Logf("RTT of b shown %v after the join was logged: %v", time.Since(joinedAt).Round(time.Millisecond), rtt)

	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer func() { _ = b.cmd.Process.Signal(syscall.SIGCONT) }()
	left := regexp.MustCompile(`peer left.* peer=` + regexp.QuoteMeta(b.id) + `.*reason=(\S+)`)
	m := a.log.waitMatch(t, "a drops the hung b", left, 15*time.Second)
	took := time.Since(stopped)
	t.Logf("hung peer dropped %v after SIGSTOP (reason %s)", took.Round(10*time.Millisecond), m[1])
	if m[1] != "unresponsive" {
		t.Errorf("reason %q, want unresponsive", m[1])
	}
	if took > 6*time.Second {
		t.Errorf("hung peer dropped after %v, want within 5 s (+1 s slack)", took)
	}

	// Once it runs again it comes back.
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	before := len(joined.FindAllString(a.log.String(), -1))
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for len(joined.FindAllString(a.log.String(), -1)) == before {
		select {
		case <-a.log.notify:
		case <-deadline.C:
			t.Fatalf("b never came back after SIGCONT:\n%s", a.log.String())
		}
	}
	b.stop(t)
	a.stop(t)
}
