package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
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
// the Peers screen lists the two other peers; on Jobs the form (n) starts
// a small text job across all three, which reaches done; the Query screen
// asks the trained model and shows the label and the peer that answered;
// q asks (nothing runs any more: it quits). It polls capture-pane with
// deadlines instead of sleeping.
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

	var waitForIn func(what string, within time.Duration, ok func(string) bool) string
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
		return waitForIn(what, 30*time.Second, ok)
	}
	waitForIn = func(what string, within time.Duration, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			s := screen()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				logs, _ := os.ReadFile(logFile)
				t.Fatalf("no %s within %s; screen:\n%s\nconsole log:\n%s\nalpha's log:\n%s", what, within, s, logs, a.log.String())
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
		}
	}
	keys := func(k ...string) {
		if out, err := tm(append([]string{"send-keys", "-t", "tui"}, k...)...); err != nil {
			t.Fatalf("send-keys: %v\n%s", err, out)
		}
	}
	// SHOAL_CONSOLE_CAPTURES=dir keeps a capture of each screen there
	// (docs/console.md shows them).
	capture := func(name, s string) {
		if dir := os.Getenv("SHOAL_CONSOLE_CAPTURES"); dir != "" {
			_ = os.WriteFile(filepath.Join(dir, name+".txt"), []byte(s), 0o644)
		}
	}
	s := waitFor("both peers on the Peers screen", func(s string) bool {
		return strings.Contains(s, "bravo") && strings.Contains(s, "charlie") && strings.Contains(s, "peers up 2/2")
	})
	capture("peers", s)
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

	// A job from the form: seed-text on 3,000 short texts (three shards of
	// the default 1,000 rows, one per member), one epoch, all three peers.
	data := datatest.DaysTSV(t, 3000)
	keys("2")
	waitFor("the Jobs screen", func(s string) bool { return strings.Contains(s, "[2 Jobs]") })
	keys("n")
	waitFor("the job form", func(s string) bool { return strings.Contains(s, "New job") && strings.Contains(s, "min peers") })
	keys("-l", "days")
	keys("Tab", "BSpace", "BSpace", "BSpace")
	keys("-l", "seed-text")
	keys("Tab")
	keys("-l", data)
	keys("Tab", "Tab", "BSpace", "3", "Tab", "4", "Tab", "Tab")
	capture("job_form", waitFor("the filled form", func(s string) bool {
		return strings.Contains(s, "seed-text") && strings.Contains(s, "› [ submit ]")
	}))
	keys("Enter")
	waitFor("the submission", func(s string) bool { return strings.Contains(s, "submitted job days") })
	capture("jobs", waitForIn("the job to be done", 3*time.Minute, func(s string) bool {
		return regexp.MustCompile(`days \S+\s+done\s`).MatchString(s)
	}))
	keys("Enter")
	capture("job_detail", waitFor("the job's charts", func(s string) bool {
		return strings.Contains(s, "Job days") && strings.Contains(s, "hold-out accuracy") && strings.Contains(s, "Members (3)")
	}))
	keys("Escape")
	waitFor("the job list again", func(s string) bool { return strings.Contains(s, "PROGRESS") })

	// The model loads a moment after the job published it: the Models
	// screen (read again every few seconds) says when.
	keys("3")
	capture("models", waitForIn("the model to be available", time.Minute, func(s string) bool {
		return regexp.MustCompile(`days\s+v1\s.*available`).MatchString(s)
	}))
	// The trained model from the Query screen.
	keys("4")
	waitFor("the model on the Query screen", func(s string) bool { return strings.Contains(s, "[4 Query]") && strings.Contains(s, "› days") })
	keys("i")
	keys("-l", "a good sunny morning")
	keys("Enter")
	// A query that still came too early is sent again (enter resends).
	answered := regexp.MustCompile(`label (good|bad)`)
	for try := 1; ; try++ {
		n := fmt.Sprintf("History (%d this session)", try)
		s = waitFor("answer "+strconv.Itoa(try), func(s string) bool { return strings.Contains(s, n) })
		if answered.MatchString(s) || try == 3 {
			break
		}
		keys("Enter")
	}
	if !answered.MatchString(s) || !strings.Contains(s, "served by alpha (this node)") {
		t.Fatalf("no label and serving peer on the Query screen:\n%s", s)
	}
	t.Logf("query answered:\n%s", s)
	capture("query", s)
	keys("5")
	capture("log", waitFor("the node's log", func(s string) bool {
		return strings.Contains(s, "[5 Log]") && strings.Contains(s, " INFO ")
	}))
	keys("q")
	waitFor("the console to quit", func(s string) bool { return strings.Contains(s, "TUI-EXITED 0") })
	for _, p := range []*meshProc{c, b, a} {
		p.stop(t)
	}
}
