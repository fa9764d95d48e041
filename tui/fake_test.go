package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// t0 is the fake's clock: every time in the tests is fixed to it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func peerID(tail string) string { return "12D3KooWFakePeerIdentityPadding" + tail }

// fakeNode is a Node whose state and event stream the test sets.
type fakeNode struct {
	mu      sync.Mutex
	self    controlapi.Peer
	peers   []controlapi.Peer
	jobs    []controlapi.Job
	down    bool // every call fails
	ch      chan controlapi.Event
	closed  bool
	opened  int      // event streams opened
	fetches int      // Peers calls
	lastIDs []string // the lastID of every EventsSince

	models    []controlapi.Model
	history   map[string][]controlapi.JobPoint
	logs      []controlapi.LogLine
	submitted []controlapi.JobSpec
	canceled  []string
	answered  []string // "accept ID" or "decline ID"
	denied    []string
	labels    []string // "name label version"
	removed   []string
	serving   []string
	pulled    []string // "name from"
	predicted []controlapi.PredictRequest
	predictOK controlapi.PredictResponse
	actionErr error // the next action fails with it
}

var errDown = errors.New("dial tcp 127.0.0.1:7070: connect: connection refused")

func newFake() *fakeNode {
	self := controlapi.Peer{
		ID: peerID("SELF01"), Name: "alpha", Role: "full", Version: "0.4.0", Cores: 8, MemBytes: 16 << 30,
		Addrs: []string{"/ip4/192.168.1.10/tcp/4001/p2p/" + peerID("SELF01"), "/ip4/192.168.1.10/tcp/4002/ws"},
		Alive: true, Models: []string{"mnist-mlp"}, MeshID: "3fa9c1d2",
		Served: []controlapi.ServedModel{{Name: "mnist-mlp", Versions: []int{2, 1}}},
	}
	peers := []controlapi.Peer{
		{ID: peerID("BRAVO2"), Name: "bravo", Role: "full", Version: "0.4.0", Cores: 16, MemBytes: 64 << 30, Load: 0.42,
			Models: []string{"mnist-mlp", "sst2"}, Jobs: []string{"9f3c2a1b7d"},
			Served:   []controlapi.ServedModel{{Name: "mnist-mlp", Versions: []int{2}, Int8: true}, {Name: "sst2", Versions: []int{1}}},
			Addrs:    []string{"/ip4/192.168.1.11/tcp/4001", "/ip4/192.168.1.11/tcp/4002/ws", "/ip6/fe80::1/tcp/4001"},
			LastSeen: t0.Add(-2 * time.Second), RTT: 1800 * time.Microsecond, Alive: true},
		{ID: peerID("CHRLI3"), Name: "charlie", Role: "edge", Version: "0.4.0", Cores: 4, MemBytes: 4 << 30, Load: 1.5,
			Models: []string{}, Jobs: []string{},
			Addrs:    []string{"/ip4/192.168.1.12/tcp/4001"},
			LastSeen: t0.Add(-3 * time.Minute), RTT: 23 * time.Millisecond, Alive: false},
		{ID: peerID("DELTA4"), Name: "delta", Role: "full", Version: "0.4.0", Cores: 32, MemBytes: 128 << 30, Load: 0.05,
			Models: []string{"cifar-cnn"}, Jobs: []string{"9f3c2a1b7d"},
			Addrs:    []string{"/dns4/delta.lan/tcp/4001"},
			LastSeen: t0.Add(-400 * time.Millisecond), RTT: 650 * time.Microsecond, Alive: true},
	}
	jobs := []controlapi.Job{
		{ID: "9f3c2a1b7d4e", Name: "mnist", Model: "mlp", State: controlapi.JobTraining, Epoch: 2, Epochs: 3,
			Step: 1200, Steps: 1875, Loss: 0.2841, Accuracy: 0.9312, ConsensusDistance: 0.0123, Rounds: 40,
			BytesSent: 12 << 20, BytesRecv: 11 << 20, Members: 3, Submitter: self.ID, Shards: 60, ShardsHeld: 20,
			Peers: []controlapi.JobStatus{
				{Peer: peerID("BRAVO2"), State: controlapi.JobTraining, Epoch: 2, Step: 1180, Steps: 1875, Loss: 0.2903, Accuracy: 0.9288, BytesSent: 11 << 20, BytesRecv: 12 << 20, ShardsHeld: 21},
				{Peer: peerID("DELTA4"), State: controlapi.JobFetching, Epoch: 0, Step: 0, Steps: 1875},
			}},
		{ID: "4b1e07aa93c0", Name: "sst2", Model: "lstm-text", State: controlapi.JobDone, Epoch: 1, Epochs: 1,
			Step: 500, Steps: 500, Loss: 0.4120, Accuracy: 0.8125, Members: 2, Submitter: peerID("BRAVO2"),
			Result: &controlapi.JobResult{ModelName: "sst2", ModelVersion: 1, ModelBytes: 3 << 20},
			Peers:  []controlapi.JobStatus{{Peer: peerID("BRAVO2"), State: controlapi.JobDone, Epoch: 1, Step: 500, Steps: 500, Loss: 0.4077, Accuracy: 0.8150}}},
		{ID: "c0ffee000001", Model: "cnn", State: controlapi.JobFailed, Error: "data: no such folder /data/cifar", Members: 1, Submitter: self.ID},
	}
	models := []controlapi.Model{{Name: "mnist-mlp", Labels: map[string]int{"stable": 1, "canary": 2},
		Versions: []controlapi.ModelVersion{{Version: 2, State: "AVAILABLE", Bytes: 420 << 10}, {Version: 1, State: "AVAILABLE", Bytes: 418 << 10}}}}
	var pts []controlapi.JobPoint
	for i := range 12 {
		pts = append(pts, controlapi.JobPoint{Time: t0.Add(time.Duration(i-12) * time.Minute), State: controlapi.JobTraining,
			Epoch: 1 + i/5, Step: 100 * (i + 1), Loss: 2.3 / float64(i+1), Accuracy: 0.1 + 0.07*float64(i)})
	}
	logs := []controlapi.LogLine{
		{Seq: 1, Time: t0.Add(-50 * time.Second), Level: "INFO", Msg: "control API listening", Attrs: "part=api addr=127.0.0.1:7070"},
		{Seq: 2, Time: t0.Add(-40 * time.Second), Level: "INFO", Msg: "peer joined", Attrs: "part=mesh peer=12D3KooWBRAVO2 name=bravo"},
		{Seq: 3, Time: t0.Add(-30 * time.Second), Level: "WARN", Msg: "shard fetch failed", Attrs: "part=jobs job=9f3c2a1b7d4e err=\"stream reset\""},
		{Seq: 4, Time: t0.Add(-20 * time.Second), Level: "ERROR", Msg: "job failed", Attrs: "part=jobs job=c0ffee000001 err=\"data: no such folder /data/cifar\""},
		{Seq: 5, Time: t0.Add(-10 * time.Second), Level: "INFO", Msg: "peer left", Attrs: "part=mesh peer=12D3KooWCHRLI3 reason=timeout"},
	}
	return &fakeNode{self: self, peers: peers, jobs: jobs, models: models, logs: logs,
		history: map[string][]controlapi.JobPoint{"9f3c2a1b7d4e": pts},
		predictOK: controlapi.PredictResponse{Name: "mnist-mlp", Version: 2, ServedBy: peerID("BRAVO2"),
			Predictions: []controlapi.Prediction{{Label: "7", Class: 7, Probability: 0.91, Probabilities: []float64{0.01, 0, 0.02, 0.01, 0, 0.01, 0, 0.91, 0.01, 0.03}}}}}
}

func (f *fakeNode) Self(context.Context) (controlapi.Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return controlapi.Peer{}, errDown
	}
	return f.self, nil
}

func (f *fakeNode) Peers(context.Context) ([]controlapi.Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	if f.down {
		return nil, errDown
	}
	return append([]controlapi.Peer(nil), f.peers...), nil
}

func (f *fakeNode) Jobs(context.Context) ([]controlapi.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	return append([]controlapi.Job(nil), f.jobs...), nil
}

func (f *fakeNode) EventsSince(ctx context.Context, lastID string) (<-chan controlapi.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errDown
	}
	f.lastIDs = append(f.lastIDs, lastID)
	ch := make(chan controlapi.Event)
	f.ch, f.closed = ch, false
	f.opened++
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.ch == ch && !f.closed {
			close(ch)
			f.closed = true
		}
	}()
	return ch, nil
}

// call is the common part of every other method: fail when down, or
// with the next action error.
func (f *fakeNode) call(action bool) error {
	if f.down {
		return errDown
	}
	if action && f.actionErr != nil {
		err := f.actionErr
		f.actionErr = nil
		return err
	}
	return nil
}

func (f *fakeNode) JobHistory(_ context.Context, id string) ([]controlapi.JobPoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(false); err != nil {
		return nil, err
	}
	return append([]controlapi.JobPoint(nil), f.history[id]...), nil
}

func (f *fakeNode) SubmitJob(_ context.Context, spec controlapi.JobSpec) (controlapi.JobSpec, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return spec, err
	}
	f.submitted = append(f.submitted, spec)
	spec.ID = "5ca1ab1e0000"
	spec.Submitter = f.self.ID
	f.jobs = append([]controlapi.Job{{ID: spec.ID, Name: spec.Name, Model: spec.Model, State: controlapi.JobJoined,
		Epochs: spec.Epochs, Members: 1, Submitter: f.self.ID, Spec: spec}}, f.jobs...)
	return spec, nil
}

func (f *fakeNode) CancelJob(_ context.Context, id string) (controlapi.CancelResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return controlapi.CancelResponse{}, err
	}
	f.canceled = append(f.canceled, id)
	return controlapi.CancelResponse{ID: id, Mesh: true}, nil
}

func (f *fakeNode) AcceptJob(_ context.Context, id string) (controlapi.AnswerResponse, error) {
	return f.answer(id, true)
}

func (f *fakeNode) DeclineJob(_ context.Context, id string) (controlapi.AnswerResponse, error) {
	return f.answer(id, false)
}

// answer records an answer to a pending job and changes its state as the
// node would.
func (f *fakeNode) answer(id string, accept bool) (controlapi.AnswerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return controlapi.AnswerResponse{}, err
	}
	state, what := controlapi.JobDeclined, "decline "
	if accept {
		state, what = controlapi.JobJoined, "accept "
	}
	f.answered = append(f.answered, what+id)
	for i := range f.jobs {
		if f.jobs[i].ID == id {
			f.jobs[i].State = state
		}
	}
	return controlapi.AnswerResponse{ID: id, State: state}, nil
}

func (f *fakeNode) DenyPeer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return err
	}
	f.denied = append(f.denied, id)
	return nil
}

func (f *fakeNode) Models(context.Context) ([]controlapi.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(false); err != nil {
		return nil, err
	}
	return append([]controlapi.Model(nil), f.models...), nil
}

func (f *fakeNode) SetModelLabel(_ context.Context, name, label string, version int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return err
	}
	f.labels = append(f.labels, fmt.Sprintf("%s %s %d", name, label, version))
	return nil
}

func (f *fakeNode) QuantizeModel(_ context.Context, name string) (controlapi.QuantizeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return controlapi.QuantizeResponse{}, err
	}
	f.serving = append(f.serving, "quantize "+name)
	return controlapi.QuantizeResponse{Name: name, Version: 3, FromVersion: 2, Bytes: 100 << 10}, nil
}

func (f *fakeNode) SetModelServing(_ context.Context, name string, serving bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return err
	}
	f.serving = append(f.serving, fmt.Sprintf("%s %v", name, serving))
	return nil
}

func (f *fakeNode) RemoveModel(_ context.Context, name string, version int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return err
	}
	f.removed = append(f.removed, name)
	return nil
}

func (f *fakeNode) PullModel(_ context.Context, name string, req controlapi.PullRequest) (controlapi.PullResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return controlapi.PullResponse{}, err
	}
	f.pulled = append(f.pulled, name+" "+req.Peer)
	return controlapi.PullResponse{Name: name, Version: 1, RemoteVersion: 1, Peer: req.Peer, Bytes: 3 << 20}, nil
}

func (f *fakeNode) PredictModel(_ context.Context, name string, req controlapi.PredictRequest) (controlapi.PredictResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(true); err != nil {
		return controlapi.PredictResponse{}, err
	}
	f.predicted = append(f.predicted, req)
	res := f.predictOK
	res.Name = name
	return res, nil
}

func (f *fakeNode) Logs(_ context.Context, q controlapi.LogQuery) ([]controlapi.LogLine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(false); err != nil {
		return nil, err
	}
	var out []controlapi.LogLine
	for _, l := range f.logs {
		if l.Seq > q.After {
			out = append(out, l)
		}
	}
	return out, nil
}

// send hands ev to the console's adapter (blocking until it reads it).
func (f *fakeNode) send(t *testing.T, ev controlapi.Event) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil || f.closed {
		t.Fatal("no open event stream")
	}
	select {
	case f.ch <- ev:
	case <-time.After(5 * time.Second):
		t.Fatal("console did not read the event")
	}
}

// crash ends the event stream and makes every call fail.
func (f *fakeNode) crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = true
	if f.ch != nil && !f.closed {
		close(f.ch)
		f.closed = true
	}
}

func (f *fakeNode) recover() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = false
}

func testOptions() Options {
	return Options{Addr: "127.0.0.1:7070", MeshID: "3fa9c1d2", Now: func() time.Time { return t0 },
		MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
}

// driver runs a model's commands the way Bubble Tea does, each in its own
// goroutine, and feeds their messages to Update on the test's goroutine.
type driver struct {
	t    *testing.T
	m    Model
	msgs chan tea.Msg
	ctx  context.Context
}

func newDriver(t *testing.T, f *fakeNode, w, h int) *driver {
	return newDriverWith(t, f, w, h, testOptions())
}

func newDriverWith(t *testing.T, f *fakeNode, w, h int, opt Options) *driver {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	d := &driver{t: t, m: New(ctx, f, opt), msgs: make(chan tea.Msg, 64), ctx: ctx}
	d.update(tea.WindowSizeMsg{Width: w, Height: h})
	d.spawn(d.m.Init())
	return d
}

func (d *driver) spawn(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() {
		msg := cmd()
		select {
		case d.msgs <- msg:
		case <-d.ctx.Done():
		}
	}()
}

func (d *driver) update(msg tea.Msg) tea.Cmd {
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			d.spawn(c)
		}
		return nil
	}
	nm, cmd := d.m.Update(msg)
	d.m = nm.(Model)
	return cmd
}

// until processes messages until cond holds.
func (d *driver) until(what string, cond func(Model) bool) {
	d.t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond(d.m) {
		select {
		case msg := <-d.msgs:
			d.spawn(d.update(msg))
		case <-deadline:
			d.t.Fatalf("timed out waiting for %s; screen:\n%s", what, plain(d.m))
		}
	}
}

// press sends keys to Update directly (a key's command is run as usual).
func (d *driver) press(keys ...string) {
	for _, k := range keys {
		d.spawn(d.update(keyMsg(k)))
	}
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+s":
		return tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	}
	r := []rune(k)
	if len(r) != 1 {
		panic(fmt.Sprintf("keyMsg %q", k))
	}
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

func connected(m Model) bool { return m.connected }
