package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTUIHelp(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"tui", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"shoal tui --api 127.0.0.1:7071 --data-dir ./node-b", "--api string", "--data-dir string", "--log-file string"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

// TestTUINeedsATerminal: under `go test` stdin and stdout are no terminal,
// so the console refuses to start instead of drawing into a pipe.
func TestTUINeedsATerminal(t *testing.T) {
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"tui", "--data-dir", t.TempDir()})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "needs a terminal") {
		t.Fatalf("err = %v, want a needs-a-terminal error", err)
	}
}

// TestTUIInTmux drives the real binary in tmux against a real 3-peer mesh:
// the Peers screen lists the two other peers, 2 opens Jobs, q quits. It
// polls capture-pane with deadlines instead of sleeping.
func TestTUIInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes; skipped with -short")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	bin := buildShoal(t)
	root := t.TempDir()
	a := startMeshProc(t, bin, "alpha", filepath.Join(root, "alpha"))
	key := filepath.Join(root, "alpha", "swarm.key")
	b := startMeshProc(t, bin, "bravo", filepath.Join(root, "bravo"), "--key", key, "--bootstrap", a.addr)
	c := startMeshProc(t, bin, "charlie", filepath.Join(root, "charlie"), "--key", key, "--bootstrap", a.addr)

	sock := "shoal-tui-test-" + strconv.Itoa(os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })
	logFile := filepath.Join(root, "tui.log")
	cmdline := fmt.Sprintf("NO_COLOR=1 %s tui --api %s --data-dir %s --log-file %s; echo TUI-EXITED $?; sleep 60",
		bin, a.api, a.dir, logFile)
	if out, err := tm("new-session", "-d", "-s", "tui", "-x", "100", "-y", "30", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	screen := func() string {
		out, _ := tm("capture-pane", "-p", "-t", "tui")
		return out
	}
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				logs, _ := os.ReadFile(logFile)
				t.Fatalf("no %s within 30s; screen:\n%s\nconsole log:\n%s", what, s, logs)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
		}
	}
	keys := func(k ...string) {
		if out, err := tm(append([]string{"send-keys", "-t", "tui"}, k...)...); err != nil {
			t.Fatalf("send-keys: %v\n%s", err, out)
		}
	}
	s := waitFor("both peers on the Peers screen", func(s string) bool {
		return strings.Contains(s, "bravo") && strings.Contains(s, "charlie") && strings.Contains(s, "peers up 2/2")
	})
	if !strings.Contains(s, "node alpha") || !strings.Contains(s, "join "+a.addr[:20]) {
		t.Errorf("header does not show this node:\n%s", s)
	}
	keys("2")
	waitFor("the Jobs screen", func(s string) bool { return strings.Contains(s, "[2 Jobs]") && strings.Contains(s, "no jobs yet") })
	keys("1", "/", "char", "Enter", "Enter")
	waitFor("charlie's detail", func(s string) bool { return strings.Contains(s, "Peer charlie") && strings.Contains(s, c.id) })
	// Escape and q apart: sent together they read as alt+q.
	keys("Escape")
	waitFor("the peer list again", func(s string) bool { return strings.Contains(s, "ADDRESSES") })
	keys("q")
	waitFor("the console to quit", func(s string) bool { return strings.Contains(s, "TUI-EXITED 0") })
	for _, p := range []*meshProc{c, b, a} {
		p.stop(t)
	}
}
