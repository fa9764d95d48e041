package tui

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// updating reports -update, which rewrites testdata/*.golden and
// docs/keys.md. The flag itself is defined by teatest's golden package,
// which this test binary links.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// plain is the view as text: the golden files hold what a reader sees, so a
// change of emphasis alone does not churn them (colour is never the only cue).
func plain(m Model) string {
	lines := strings.Split(ansi.Strip(m.View().Content), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./tui -update`)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the view (run `go test ./tui -update` if the change is meant):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func ready(t *testing.T, w, h int) (*driver, *fakeNode) {
	t.Helper()
	f := newFake()
	d := newDriver(t, f, w, h)
	d.until("the first connection", connected)
	return d, f
}

// TestGoldenScreens renders every screen at the smallest supported window and
// a roomier one; each view must fill the window and never overflow it.
func TestGoldenScreens(t *testing.T) {
	screens := []struct {
		name string
		keys []string
	}{
		{"peers", nil},
		{"peers_filter", []string{"/", "d", "e", "l"}},
		{"peer_detail", []string{"j", "enter"}},
		{"jobs", []string{"2"}},
		{"job_detail", []string{"2", "enter"}},
		{"job_failed", []string{"2", "G", "enter"}},
		{"help", []string{"?"}},
		{"quit_ask", []string{"q"}},
		{"peer_deny_ask", []string{"d"}},
		{"job_cancel_ask", []string{"2", "c"}},
		{"job_form", []string{"2", "n"}},
		{"models", []string{"3"}},
		{"model_remove_ask", []string{"3", "x"}},
		{"model_label", []string{"3", "l"}},
		{"model_pull", []string{"3", "j", "p"}},
		{"query", []string{"4"}},
		{"log", []string{"5"}},
	}
	for _, size := range [][2]int{{100, 30}, {80, 24}} {
		for _, s := range screens {
			name := fmt.Sprintf("%s_%dx%d", s.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				d, _ := ready(t, size[0], size[1])
				d.press(s.keys...)
				settle(d, s.name)
				got := plain(d.m)
				checkSize(t, got, size[0], size[1])
				checkGolden(t, name, got)
			})
		}
	}
}

func checkSize(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(view, "\n"), "\n")
	if len(lines) != h {
		t.Errorf("view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i, ansi.StringWidth(l), w, l)
		}
	}
}

func TestPeersKeys(t *testing.T) {
	d, _ := ready(t, 100, 30)
	l := func() list { return d.m.lists[screenPeers] }
	if got := len(d.m.peers); got != 3 {
		t.Fatalf("%d peers, want 3 (this node left out)", got)
	}
	d.press("j", "down")
	if l().cursor != 2 {
		t.Fatalf("cursor %d after j, down; want 2", l().cursor)
	}
	d.press("j") // stays on the last row
	if l().cursor != 2 {
		t.Fatalf("cursor %d moved past the last row", l().cursor)
	}
	d.press("k", "up", "up")
	if l().cursor != 0 {
		t.Fatalf("cursor %d after k, up, up; want 0", l().cursor)
	}
	d.press("G")
	if l().cursor != 2 {
		t.Fatalf("G: cursor %d", l().cursor)
	}
	d.press("g", "enter")
	if l().open != peerID("BRAVO2") {
		t.Fatalf("enter opened %q, want bravo", l().open)
	}
	if v := plain(d.m); !strings.Contains(v, "/ip6/fe80::1/tcp/4001") || !strings.Contains(v, "Peer bravo") {
		t.Errorf("peer detail lacks the peer's addresses:\n%s", v)
	}
	d.press("esc")
	if l().open != "" {
		t.Fatal("esc did not go back to the list")
	}

	// Filter: typed keys go to the filter, not to the keymap.
	d.press("/", "c", "h", "q")
	if !l().filtering || l().filter != "chq" {
		t.Fatalf("filter %q filtering=%v", l().filter, l().filtering)
	}
	if d.m.screen != screenPeers {
		t.Fatal("q while filtering must not quit or switch")
	}
	d.press("backspace", "enter")
	if l().filtering || l().filter != "ch" {
		t.Fatalf("after backspace, enter: filter %q filtering=%v", l().filter, l().filtering)
	}
	if ps := d.m.visiblePeers(); len(ps) != 1 || ps[0].Name != "charlie" {
		t.Fatalf("filter ch shows %v", ps)
	}
	d.press("enter")
	if l().open != peerID("CHRLI3") {
		t.Fatalf("enter on the filtered list opened %q", l().open)
	}
	d.press("esc", "esc")
	if l().filter != "" || l().open != "" {
		t.Fatalf("esc, esc left filter %q open %q", l().filter, l().open)
	}
	d.press("/", "z", "z", "z")
	if v := plain(d.m); !strings.Contains(v, "no peer matches the filter") {
		t.Errorf("empty filter result not said:\n%s", v)
	}
	d.press("esc")
	if l().filter != "" || l().filtering {
		t.Fatal("esc while filtering must clear the filter")
	}
}

func TestJobsKeys(t *testing.T) {
	d, _ := ready(t, 100, 30)
	d.press("2")
	if d.m.screen != screenJobs {
		t.Fatal("2 did not open Jobs")
	}
	l := func() list { return d.m.lists[screenJobs] }
	d.press("j", "enter")
	if l().open != "4b1e07aa93c0" {
		t.Fatalf("enter opened %q", l().open)
	}
	v := plain(d.m)
	for _, want := range []string{"Members (2)", "alpha (this node)", "bravo", "sst2 v1"} {
		if !strings.Contains(v, want) {
			t.Errorf("job detail lacks %q:\n%s", want, v)
		}
	}
	d.press("j") // no rows to move in a detail view: stays open
	if l().open == "" {
		t.Fatal("j closed the detail view")
	}
	d.press("esc", "/", "f", "a", "i", "l", "enter")
	if js := d.m.visibleJobs(); len(js) != 1 || js[0].ID != "c0ffee000001" {
		t.Fatalf("filter fail shows %d jobs", len(js))
	}
	d.press("1")
	if d.m.screen != screenPeers || d.m.lists[screenJobs].filter != "fail" {
		t.Fatal("each screen keeps its own filter")
	}
}

func TestScreenSwitchHelpAndQuit(t *testing.T) {
	d, _ := ready(t, 80, 24)
	for _, step := range []struct {
		key  string
		want screen
	}{{"tab", screenJobs}, {"tab", screenModels}, {"tab", screenQuery}, {"tab", screenLog}, {"tab", screenPeers},
		{"shift+tab", screenLog}, {"shift+tab", screenQuery}, {"3", screenModels}, {"4", screenQuery}, {"5", screenLog},
		{"2", screenJobs}, {"1", screenPeers}} {
		d.press(step.key)
		if d.m.screen != step.want {
			t.Fatalf("%s: screen %v, want %v", step.key, d.m.screen, step.want)
		}
	}
	d.press("?")
	if !d.m.showHelp {
		t.Fatal("? did not open the help overlay")
	}
	d.press("j", "2")
	if d.m.screen != screenPeers || d.m.lists[screenPeers].cursor != 0 {
		t.Fatal("keys behind the help overlay must not act")
	}
	d.press("?")
	if d.m.showHelp {
		t.Fatal("? did not close the help overlay")
	}
	d.press("?", "esc")
	if d.m.showHelp {
		t.Fatal("esc did not close the help overlay")
	}
	// Job mnist, submitted by this node, is training: quitting asks.
	for _, k := range []string{"q", "ctrl+c"} {
		d.press(k)
		if d.m.confirmQuit == "" {
			t.Fatalf("%s with a running job did not ask", k)
		}
		if v := plain(d.m); !strings.Contains(v, "job mnist 9f3c2a1b that this node submitted is still running: quit anyway? y/n") {
			t.Errorf("no quit question:\n%s", v)
		}
		d.press("n")
		if d.m.confirmQuit != "" {
			t.Fatal("n did not cancel")
		}
	}
	d.press("q", "j")
	if d.m.confirmQuit == "" || d.m.lists[screenPeers].cursor != 0 {
		t.Fatal("keys other than y/n/q must not act while asking")
	}
	d.press("esc")
	for _, seq := range [][]string{{"q", "y"}, {"q", "q"}, {"ctrl+c", "ctrl+c"}} {
		m := d.m
		nm, _ := m.Update(keyMsg(seq[0]))
		_, cmd := nm.Update(keyMsg(seq[1]))
		if cmd == nil {
			t.Fatalf("%v gave no command", seq)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%v did not quit", seq)
		}
	}
	// Without a running job of this node's, q quits at once.
	d.m.jobs = d.m.jobs[1:]
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := d.m.Update(keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s gave no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s did not quit", k)
		}
	}
}

// TestLiveEvents: events from the stream change the screens without a
// refetch.
func TestLiveEvents(t *testing.T) {
	d, f := ready(t, 100, 30)
	echo := controlapi.Peer{ID: peerID("ECHO05"), Name: "echo", Role: "full", Alive: true, LastSeen: t0, Addrs: []string{"/ip4/192.168.1.13/tcp/4001"}}
	f.send(t, controlapi.Event{Type: controlapi.EventPeerJoined, Time: t0, Peer: &echo})
	d.until("echo to join", func(m Model) bool { return len(m.peers) == 4 })
	bravo := f.peers[0]
	f.send(t, controlapi.Event{Type: controlapi.EventPeerLeft, Time: t0, Peer: &bravo, Reason: "timeout"})
	d.until("bravo to be down", func(m Model) bool { return !m.peers[0].Alive })
	if !strings.Contains(plain(d.m), "peers up 2/4") {
		t.Errorf("header does not count peers up:\n%s", plain(d.m))
	}
	st := controlapi.JobStatus{Peer: f.self.ID, State: controlapi.JobTraining, Epoch: 3, Step: 1800, Steps: 1875, Loss: 0.1, Accuracy: 0.95}
	f.send(t, controlapi.Event{Type: controlapi.EventJobStatus, Time: t0, Job: &controlapi.JobEvent{ID: "9f3c2a1b7d4e", Status: &st}})
	d.until("the job's step", func(m Model) bool { return m.jobs[0].Step == 1800 })
	if d.m.jobs[0].Epoch != 3 {
		t.Errorf("epoch %d after status, want 3", d.m.jobs[0].Epoch)
	}
	ms := controlapi.JobStatus{Peer: peerID("DELTA4"), State: controlapi.JobTraining, Step: 10, Steps: 1875}
	f.send(t, controlapi.Event{Type: controlapi.EventJobStatus, Time: t0, Job: &controlapi.JobEvent{ID: "9f3c2a1b7d4e", Status: &ms}})
	d.until("delta's row", func(m Model) bool { return m.jobs[0].Peers[1].Step == 10 })
	// A finished job is read again from the API.
	f.mu.Lock()
	f.jobs[0].State = controlapi.JobDone
	f.mu.Unlock()
	f.send(t, controlapi.Event{Type: controlapi.EventJobDone, Time: t0, Job: &controlapi.JobEvent{ID: "9f3c2a1b7d4e"}})
	d.until("the job to be done", func(m Model) bool { return m.jobs[0].State == controlapi.JobDone })
}

// TestReconnect: the node goes away (banner, retries with growing waits)
// and comes back (banner gone, screens refilled from the API).
func TestReconnect(t *testing.T) {
	d, f := ready(t, 80, 24)
	f.crash()
	d.until("the banner", func(m Model) bool { return !m.connected && m.attempt >= 1 })
	v := plain(d.m)
	if !strings.Contains(v, "connection to the node at 127.0.0.1:7070 lost") || !strings.Contains(v, "DISCONNECTED") {
		t.Errorf("no lost-connection banner:\n%s", v)
	}
	d.until("three failed retries", func(m Model) bool { return m.attempt >= 4 })
	if d.m.backoff != 4*time.Millisecond {
		t.Errorf("backoff %s after 4 attempts, want the 4ms cap", d.m.backoff)
	}
	checkGolden(t, "disconnected_80x24", plainWithoutRetry(d.m))

	// While away the mesh changed; after the reconnect the screens show it.
	f.mu.Lock()
	f.peers = f.peers[1:]
	f.jobs = f.jobs[:1]
	f.mu.Unlock()
	f.recover()
	d.until("the reconnect", connected)
	if len(d.m.peers) != 2 || len(d.m.jobs) != 1 {
		t.Errorf("after reconnect: %d peers, %d jobs; want 2 and 1 from the API", len(d.m.peers), len(d.m.jobs))
	}
	if v := plain(d.m); strings.Contains(v, "lost") || strings.Contains(v, "DISCONNECTED") {
		t.Errorf("banner still shown after reconnect:\n%s", v)
	}
	if d.m.backoff != 0 || d.m.attempt != 0 {
		t.Error("backoff not reset after reconnect")
	}
	// The new stream is live.
	echo := controlapi.Peer{ID: peerID("ECHO05"), Name: "echo", Alive: true}
	f.send(t, controlapi.Event{Type: controlapi.EventPeerJoined, Peer: &echo})
	d.until("an event on the new stream", func(m Model) bool { return len(m.peers) == 3 })
}

// plainWithoutRetry pins the attempt count so the golden file does not
// depend on how many retries ran before the test looked.
func plainWithoutRetry(m Model) string {
	m.attempt = 4
	return plain(m)
}

func TestFirstConnectFails(t *testing.T) {
	f := newFake()
	f.down = true
	d := newDriver(t, f, 80, 24)
	d.until("a failed attempt", func(m Model) bool { return m.attempt >= 1 })
	if v := plain(d.m); !strings.Contains(v, "cannot reach the node at 127.0.0.1:7070") {
		t.Errorf("no banner for a node never reached:\n%s", v)
	}
	f.recover()
	d.until("the connection", connected)
}

// TestKeysDoc keeps docs/keys.md in step with the keymap.
func TestKeysDoc(t *testing.T) {
	path := filepath.Join("..", "docs", "keys.md")
	got := KeysMarkdown(DefaultKeyMap())
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("docs/keys.md is out of date with tui/keys.go: run `go test ./tui -update`")
	}
	for _, b := range DefaultKeyMap().ShortHelp() {
		if !strings.Contains(got, "`"+b.Keys()[0]+"`") {
			t.Errorf("help bar key %q missing from docs", b.Keys()[0])
		}
	}
}

// TestProgram runs the console in a real Bubble Tea program (teatest) with
// the ASCII colour profile, and with NO_COLOR: no colour escape reaches the
// terminal, and q ends it.
func TestProgram(t *testing.T) {
	for _, env := range [][]string{{"TERM=xterm-256color", "NO_COLOR=1"}, {"TERM=xterm-256color"}} {
		opts := []tea.ProgramOption{tea.WithEnvironment(env)}
		if len(env) == 1 {
			opts = append(opts, tea.WithColorProfile(colorprofile.Ascii))
		}
		f := newFake()
		tm := teatest.NewTestModel(t, New(t.Context(), f, testOptions()),
			teatest.WithInitialTermSize(100, 30), teatest.WithProgramOptions(opts...))
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("charlie")) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
		tm.Type("q")
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("quit anyway?")) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
		tm.Type("y")
		out, err := readAll(tm.FinalOutput(t, teatest.WithFinalTimeout(5*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		for _, sgr := range []string{"\x1b[31m", "\x1b[38;", "\x1b[91m"} {
			if strings.Contains(out, sgr) {
				t.Errorf("env %v: colour escape %q in the output", env, sgr)
			}
		}
		if _, ok := tm.FinalModel(t).(Model); !ok {
			t.Fatal("final model is not a Model")
		}
	}
}

func readAll(r interface{ Read([]byte) (int, error) }) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.String(), err
}

// TestPoll: while connected the console reads peers again, for figures no
// event carries yet.
func TestPoll(t *testing.T) {
	f := newFake()
	opt := testOptions()
	opt.Poll = time.Millisecond
	d := newDriverWith(t, f, 100, 30, opt)
	d.until("the first connection", connected)
	f.mu.Lock()
	f.peers[0].RTT = 9 * time.Millisecond
	f.mu.Unlock()
	d.until("the new RTT", func(m Model) bool { return m.peers[0].RTT == 9*time.Millisecond })
}

// TestJoinAddressWraps: the join line is never cut, only wrapped.
func TestJoinAddressWraps(t *testing.T) {
	f := newFake()
	long := "/ip4/192.168.100.200/tcp/4001/p2p/12D3KooWKrUCBqVbxbPD4ikVGE6aDgMz8KmR5ycPqXd7wNfJgzEZ"
	f.self.Addrs = []string{long}
	d := newDriver(t, f, 80, 24)
	d.until("the first connection", connected)
	v := plain(d.m)
	checkSize(t, v, 80, 24)
	if !strings.Contains(strings.ReplaceAll(v, "\n", ""), "join "+long) {
		t.Errorf("join address cut:\n%s", v)
	}
}

// TestScroll: a list longer than the window keeps the cursor row and the
// column titles on screen.
func TestScroll(t *testing.T) {
	f := newFake()
	for i := range 40 {
		f.peers = append(f.peers, controlapi.Peer{ID: peerID(fmt.Sprintf("ZZ%04d", i)), Name: fmt.Sprintf("zz-%02d", i), Alive: true})
	}
	d := newDriver(t, f, 80, 24)
	d.until("the first connection", connected)
	d.press("G")
	v := plain(d.m)
	checkSize(t, v, 80, 24)
	if !strings.Contains(v, "› zz-39") || !strings.Contains(v, "NAME") || strings.Contains(v, "bravo") {
		t.Errorf("G did not scroll to the last row:\n%s", v)
	}
	d.press("g")
	if v := plain(d.m); !strings.Contains(v, "› bravo") {
		t.Errorf("g did not scroll back:\n%s", v)
	}
	for range 25 {
		d.press("j")
	}
	if v := plain(d.m); !strings.Contains(v, "› zz-22") {
		t.Errorf("cursor row not on screen after 25 × j:\n%s", v)
	}
	// A smaller window keeps the cursor visible too.
	d.update(tea.WindowSizeMsg{Width: 80, Height: 12})
	if v := plain(d.m); !strings.Contains(v, "› zz-22") {
		t.Errorf("cursor row lost after a resize:\n%s", v)
	}
}

// settle waits for what a screen reads when it opens (a job's history,
// the log), so its golden file does not depend on timing.
func settle(d *driver, name string) {
	switch {
	case strings.HasPrefix(name, "job_detail"):
		d.until("the job's history", func(m Model) bool { return len(m.history["9f3c2a1b7d4e"]) > 0 })
	case name == "log":
		d.until("the log", func(m Model) bool { return len(m.logs.lines) > 0 })
	}
}
