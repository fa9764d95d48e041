package main

import (
	"context"
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

// TestTUIPendingJobInTmux drives the real binary in tmux as an operator
// would: alpha runs `shoal up --jobs ask` and its console; bravo submits a
// two-peer job with `shoal job submit`. Alpha's Jobs screen shows the job
// as pending under a banner, nothing runs until a is pressed; then the job
// runs on both and ends done on bravo, which submitted it.
func TestTUIPendingJobInTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes; skipped with -short")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	bin := buildShoal(t)
	root := t.TempDir()
	a := startMeshProc(t, bin, "alpha", filepath.Join(root, "alpha"), "--jobs", "ask")
	key := filepath.Join(root, "alpha", "swarm.key")
	b := startMeshProc(t, bin, "bravo", filepath.Join(root, "bravo"), "--key", key, "--bootstrap", a.addr)

	sock := "shoal-tui-pending-" + strconv.Itoa(os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { _, _ = tm("kill-server") })
	cmdline := fmt.Sprintf("NO_COLOR=1 %s tui --api %s --data-dir %s; echo TUI-EXITED $?; sleep 60", bin, a.api, a.dir)
	if out, err := tm("new-session", "-d", "-s", "tui", "-x", "110", "-y", "30", cmdline); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	waitFor := func(what string, within time.Duration, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			s, _ := tm("capture-pane", "-p", "-t", "tui")
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %s; screen:\n%s\nalpha's log:\n%s", what, within, s, a.log.String())
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an outcome
		}
	}
	keys := func(k ...string) {
		if out, err := tm(append([]string{"send-keys", "-t", "tui"}, k...)...); err != nil {
			t.Fatalf("send-keys: %v\n%s", err, out)
		}
	}
	waitFor("bravo on the Peers screen", 30*time.Second, func(s string) bool { return strings.Contains(s, "peers up 1/1") })
	keys("2")
	waitFor("the Jobs screen", 10*time.Second, func(s string) bool { return strings.Contains(s, "no jobs yet") })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, _, err := runJobCLI(ctx, "job", "submit", "--model", "seed-text", "--data", datatest.DaysTSV(t, 60), "--min-peers", "2",
		"--shard-rows", "20", "--name", "days", "--api", b.api, "--data-dir", b.dir)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	s := waitFor("the pending job", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "1 job(s) wait for your answer") && regexp.MustCompile(`days \S+\s+pending\s+answer a/x`).MatchString(s)
	})
	t.Logf("pending:\n%s", s)
	if st, _, err := runJobCLI(ctx, "job", "status", id, "--api", b.api, "--data-dir", b.dir); err != nil || !regexp.MustCompile(`members\s+1\n`).MatchString(st) {
		t.Errorf("the job runs before alpha's operator accepted it: %q, %v", st, err)
	}
	keys("a")
	waitFor("the accept", 10*time.Second, func(s string) bool { return strings.Contains(s, "accepted job days") })
	waitFor("the job to be done on alpha", 2*time.Minute, func(s string) bool {
		return regexp.MustCompile(`days \S+\s+done\s`).MatchString(s) && !strings.Contains(s, "wait for your answer")
	})
	st, _, err := runJobCLI(ctx, "job", "status", id, "--api", b.api, "--data-dir", b.dir)
	if err != nil || !regexp.MustCompile(`state\s+done`).MatchString(st) || !regexp.MustCompile(`members\s+2\n`).MatchString(st) {
		t.Errorf("bravo's view of the job: %q, %v", st, err)
	}
	keys("q")
	waitFor("the console to quit", 10*time.Second, func(s string) bool { return strings.Contains(s, "TUI-EXITED 0") })
	for _, p := range []*meshProc{b, a} {
		p.stop(t)
	}
}
