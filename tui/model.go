package tui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// screen is one of the console's top-level screens, in tab order.
type screen int

const (
	screenPeers screen = iota
	screenJobs
	screenModels
	screenQuery
	screenLog
	numScreens
)

func (s screen) String() string {
	switch s {
	case screenPeers:
		return "Peers"
	case screenJobs:
		return "Jobs"
	case screenModels:
		return "Models"
	case screenQuery:
		return "Query"
	case screenLog:
		return "Log"
	}
	return "?"
}

// Messages. gen ties a message to one connection attempt: once the model
// has moved on (reconnected, or given up on a stream) a late message from an
// older attempt is dropped.
type (
	connectedMsg struct {
		gen    int
		self   controlapi.Peer
		peers  []controlapi.Peer
		jobs   []controlapi.Job
		models []controlapi.Model
		events <-chan controlapi.Event
		cancel context.CancelFunc // ends the event stream
	}
	connectFailedMsg struct {
		gen int
		err error
	}
	eventMsg struct {
		gen int
		ev  controlapi.Event
	}
	streamEndedMsg struct{ gen int }
	retryMsg       struct{ gen int }
	jobsMsg        struct {
		gen  int
		jobs []controlapi.Job
		err  error
	}
	modelsMsg struct {
		gen    int
		models []controlapi.Model
		err    error
	}
	refreshMsg  struct{}
	pollMsg     struct{}
	snapshotMsg struct {
		gen    int
		self   controlapi.Peer
		peers  []controlapi.Peer
		jobs   []controlapi.Job
		models []controlapi.Model
		err    error
	}
)

// list is the state of one screen's table: cursor and filter.
type list struct {
	cursor    int
	offset    int
	filter    string
	filtering bool
	open      string // id of the row opened with enter; "" for the list
}

// Model is the console. Every change happens in Update; commands do the
// waiting (API calls, the next event) and report back as messages.
type Model struct {
	node Node
	opt  Options
	// followedQuery: the move to Options.QueryModel happened already.
	followedQuery bool
	keys          KeyMap
	help          help.Model

	ctx    context.Context
	cancel context.CancelFunc // the current event stream's
	events <-chan controlapi.Event
	lastID string // id of the last event seen, to resume the stream

	width, height int
	screen        screen
	lists         [numScreens]list
	showHelp      bool
	helpOffset    int    // first line of the help overlay shown
	confirmQuit   string // the running job that makes quitting ask; "" when not asking

	// Dialogs over a screen; at most one is open, and it takes the keys.
	confirm *confirmation
	prompt  *prompt
	chooser *chooser
	form    *jobForm

	// note is the outcome of the last action ("✓ …" or "! …"), shown
	// above the help bar until the next action.
	note string

	self    controlapi.Peer
	peers   []controlapi.Peer
	jobs    []controlapi.Job
	models  []controlapi.Model
	history map[string][]controlapi.JobPoint
	query   queryState
	logs    logState
	images  []testImage

	gen       int
	connected bool
	everUp    bool
	attempt   int
	backoff   time.Duration
	lastErr   error
}

// New returns a console for node. ctx bounds every request it makes.
func New(ctx context.Context, node Node, opt Options) Model {
	h := help.New()
	h.Styles = helpStyles()
	m := Model{
		node: node, opt: opt.withDefaults(), keys: DefaultKeyMap(), help: h,
		ctx: ctx, width: 80, height: 24, history: map[string][]controlapi.JobPoint{},
		query: newQueryState(), logs: logState{follow: true},
	}
	for s := screenPeers; s < numScreens; s++ {
		if strings.EqualFold(opt.Start, s.String()) {
			m.screen = s
		}
	}
	if opt.Images != "" {
		imgs, err := loadTestImages(opt.Images, maxPickerImages)
		if err != nil {
			m.note = "! test images: " + err.Error()
			m.opt.Logger.Warn("test images", "path", opt.Images, "err", err)
		}
		m.images = imgs
	}
	return m
}

// Init connects to the node.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.connect(1, "")}
	if m.opt.Refresh > 0 {
		cmds = append(cmds, m.refreshTick())
	}
	if m.opt.Poll > 0 {
		cmds = append(cmds, m.pollTick())
	}
	cmds = append(cmds, m.logTick())
	return tea.Batch(cmds...)
}

// connect subscribes to events first and then reads the node's state, so
// nothing can happen between the two unseen. It resumes after lastID, so
// events missed while away (job progress for the charts) are replayed on
// top of the fresh state; applying them again is harmless.
func (m Model) connect(gen int, lastID string) tea.Cmd {
	node, ctx, log := m.node, m.ctx, m.opt.Logger
	return func() tea.Msg {
		sctx, cancel := context.WithCancel(ctx)
		fail := func(err error) tea.Msg {
			cancel()
			log.Warn("connect to node", "attempt", gen, "err", err)
			return connectFailedMsg{gen: gen, err: err}
		}
		events, err := node.EventsSince(sctx, lastID)
		if err != nil {
			return fail(err)
		}
		self, err := node.Self(ctx)
		if err != nil {
			return fail(err)
		}
		peers, err := node.Peers(ctx)
		if err != nil {
			return fail(err)
		}
		jobs, err := node.Jobs(ctx)
		if err != nil {
			return fail(err)
		}
		models, err := node.Models(ctx)
		if err != nil {
			return fail(err)
		}
		log.Info("connected to node", "attempt", gen, "peers", len(peers), "jobs", len(jobs), "models", len(models))
		return connectedMsg{gen, self, peers, jobs, models, events, cancel}
	}
}

// waitEvent is the channel-to-Cmd adapter: it waits for the next event on
// ch and returns it as a message; Update asks for the next one.
func waitEvent(gen int, ch <-chan controlapi.Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return streamEndedMsg{gen}
		}
		return eventMsg{gen, ev}
	}
}

func (m Model) fetchJobs() tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		jobs, err := node.Jobs(ctx)
		return jobsMsg{gen, jobs, err}
	}
}

func (m Model) fetchModels() tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		models, err := node.Models(ctx)
		return modelsMsg{gen, models, err}
	}
}

// fetchSnapshot reads this node, its peers, jobs and models again (what
// this node serves, or a model's state from loading to available, has no
// event).
func (m Model) fetchSnapshot() tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		self, err := node.Self(ctx)
		if err != nil {
			return snapshotMsg{gen: gen, err: err}
		}
		peers, err := node.Peers(ctx)
		if err != nil {
			return snapshotMsg{gen: gen, err: err}
		}
		jobs, err := node.Jobs(ctx)
		if err != nil {
			return snapshotMsg{gen: gen, err: err}
		}
		models, err := node.Models(ctx)
		return snapshotMsg{gen, self, peers, jobs, models, err}
	}
}

func (m Model) pollTick() tea.Cmd {
	return tea.Tick(m.opt.Poll, func(time.Time) tea.Msg { return pollMsg{} })
}

func (m Model) refreshTick() tea.Cmd {
	return tea.Tick(m.opt.Refresh, func(time.Time) tea.Msg { return refreshMsg{} })
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clampAll()
		return m, nil
	case tea.KeyPressMsg:
		return m.handleKey(msg)
	case connectedMsg:
		if msg.gen != m.gen+1 {
			msg.cancel()
			return m, nil
		}
		if m.cancel != nil {
			m.cancel()
		}
		m.gen, m.cancel, m.events = msg.gen, msg.cancel, msg.events
		m.connected, m.everUp, m.attempt, m.backoff, m.lastErr = true, true, 0, 0, nil
		m.self = msg.self
		m.setPeers(msg.peers)
		m.jobs = msg.jobs
		m.models = msg.models
		m.clampAll()
		m.followQueryModel()
		cmds := []tea.Cmd{waitEvent(m.gen, msg.events)}
		if id := m.lists[screenJobs].open; id != "" {
			cmds = append(cmds, m.fetchHistory(id))
		}
		return m, tea.Batch(cmds...)
	case connectFailedMsg:
		if msg.gen != m.gen+1 {
			return m, nil
		}
		m.gen = msg.gen
		return m.lost(msg.err)
	case streamEndedMsg:
		if msg.gen != m.gen || !m.connected {
			return m, nil
		}
		m.opt.Logger.Warn("event stream ended")
		return m.lost(fmt.Errorf("event stream ended"))
	case retryMsg:
		if msg.gen != m.gen || m.connected {
			return m, nil
		}
		return m, m.connect(m.gen+1, m.lastID)
	case eventMsg:
		if msg.gen != m.gen || !m.connected {
			return m, nil
		}
		if msg.ev.ID != "" {
			m.lastID = msg.ev.ID
		}
		cmd := m.apply(msg.ev)
		return m, tea.Batch(cmd, waitEvent(m.gen, m.events))
	case jobsMsg:
		if msg.gen == m.gen && msg.err == nil {
			m.jobs = msg.jobs
			m.clampAll()
		}
		return m, nil
	case modelsMsg:
		if msg.gen == m.gen && msg.err == nil {
			m.models = msg.models
			m.clampAll()
			m.followQueryModel()
		}
		return m, nil
	case historyMsg:
		if msg.gen == m.gen && msg.err == nil {
			m.history[msg.id] = mergeHistory(msg.points, m.history[msg.id])
		}
		return m, nil
	case actionMsg:
		return m.actionDone(msg)
	case formDoneMsg:
		return m.formDone(msg)
	case predictMsg:
		return m.predicted(msg), nil
	case logTickMsg:
		return m, tea.Batch(m.logTick(), m.fetchLogs())
	case logsMsg:
		return m.gotLogs(msg), nil
	case refreshMsg:
		return m, m.refreshTick()
	case pollMsg:
		if !m.connected {
			return m, m.pollTick()
		}
		return m, tea.Batch(m.pollTick(), m.fetchSnapshot())
	case snapshotMsg:
		// A failed poll changes nothing: the event stream reports a lost node.
		if msg.gen == m.gen && m.connected && msg.err == nil {
			m.self = msg.self
			m.setPeers(msg.peers)
			m.jobs = msg.jobs
			m.models = msg.models
			m.clampAll()
			m.followQueryModel()
		}
		return m, nil
	}
	return m.updateInputs(msg)
}

// lost records a failed or broken connection and schedules the next try.
func (m Model) lost(err error) (tea.Model, tea.Cmd) {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
	m.connected, m.lastErr, m.events = false, err, nil
	m.attempt++
	if m.backoff == 0 {
		m.backoff = m.opt.MinBackoff
	} else {
		m.backoff = min(2*m.backoff, m.opt.MaxBackoff)
	}
	gen := m.gen
	return m, tea.Tick(m.backoff, func(time.Time) tea.Msg { return retryMsg{gen} })
}

// apply folds one event into the model's copy of the node's state.
func (m *Model) apply(ev controlapi.Event) tea.Cmd {
	switch ev.Type {
	case controlapi.EventPeerJoined, controlapi.EventPeerLeft, controlapi.EventPeerUpdated:
		if ev.Peer == nil || ev.Peer.ID == m.self.ID {
			return nil
		}
		p := *ev.Peer
		p.Alive = ev.Type != controlapi.EventPeerLeft
		i := slices.IndexFunc(m.peers, func(q controlapi.Peer) bool { return q.ID == p.ID })
		if i < 0 {
			m.setPeers(append(slices.Clone(m.peers), p))
		} else {
			ps := slices.Clone(m.peers)
			ps[i] = p
			m.setPeers(ps)
		}
		m.clampAll()
	case controlapi.EventStreamReset:
		// Events were missed: read everything again.
		return m.fetchSnapshot()
	case controlapi.EventJobStatus:
		if ev.Job == nil || ev.Job.Status == nil {
			return nil
		}
		st := *ev.Job.Status
		if st.Peer == "" || st.Peer == m.self.ID {
			m.history[ev.Job.ID] = mergeHistory(m.history[ev.Job.ID], []controlapi.JobPoint{pointOf(st, ev.Time)})
		}
		i := slices.IndexFunc(m.jobs, func(j controlapi.Job) bool { return j.ID == ev.Job.ID })
		if i < 0 {
			return m.fetchJobs()
		}
		m.jobs = slices.Clone(m.jobs)
		applyStatus(&m.jobs[i], st, m.self.ID)
	case controlapi.EventJobAnnounced, controlapi.EventJobFailed, controlapi.EventJobPreparing, controlapi.EventJobPending,
		controlapi.EventJobDeclined, controlapi.EventJobExpired, controlapi.EventJobPeerRefused:
		return m.fetchJobs()
	case controlapi.EventJobDone:
		// A finished job published a model version.
		return tea.Batch(m.fetchJobs(), m.fetchModels())
	}
	return nil
}

func applyStatus(j *controlapi.Job, s controlapi.JobStatus, selfID string) {
	if s.Peer == "" || s.Peer == selfID {
		j.State, j.Epoch, j.Step, j.Steps = s.State, s.Epoch, s.Step, s.Steps
		j.Loss, j.Accuracy, j.ConsensusDistance = s.Loss, s.Accuracy, s.ConsensusDistance
		j.Rounds, j.BytesSent, j.BytesRecv, j.Error = s.Rounds, s.BytesSent, s.BytesRecv, s.Error
		// Not ShardsHeld: this node's own statuses carry the shard list
		// only when it changes; the job list has the count.
		return
	}
	j.Peers = slices.Clone(j.Peers)
	i := slices.IndexFunc(j.Peers, func(p controlapi.JobStatus) bool { return p.Peer == s.Peer })
	if i < 0 {
		j.Peers = append(j.Peers, s)
		slices.SortFunc(j.Peers, func(a, b controlapi.JobStatus) int { return strings.Compare(a.Peer, b.Peer) })
		j.Members = max(j.Members, len(j.Peers)+1)
		return
	}
	j.Peers[i] = s
}

// setPeers keeps the peer list sorted by name, then id, without this node.
func (m *Model) setPeers(ps []controlapi.Peer) {
	out := make([]controlapi.Peer, 0, len(ps))
	for _, p := range ps {
		if m.self.ID == "" || p.ID != m.self.ID {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b controlapi.Peer) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	m.peers = out
}

// quit ends the console, first asking when a job this node submitted is
// still running (a second q, ctrl+c or y then quits).
func (m Model) quit() (tea.Model, tea.Cmd) {
	if m.self.ID != "" {
		for _, j := range m.jobs {
			if j.Submitter == m.self.ID && !controlapi.JobEnded(j.State) {
				m.confirmQuit = jobName(j)
				return m, nil
			}
		}
	}
	m.stop()
	return m, tea.Quit
}

func (m *Model) stop() {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
}

// visiblePeers and visibleJobs are the rows the filter lets through.
func (m Model) visiblePeers() []controlapi.Peer {
	f := strings.ToLower(m.lists[screenPeers].filter)
	if f == "" {
		return m.peers
	}
	var out []controlapi.Peer
	for _, p := range m.peers {
		hay := strings.ToLower(strings.Join(append([]string{p.Name, p.ID, p.Role, strings.Join(p.Models, " "), strings.Join(p.Jobs, " ")}, p.Addrs...), " "))
		if strings.Contains(hay, f) {
			out = append(out, p)
		}
	}
	return out
}

func (m Model) visibleJobs() []controlapi.Job {
	f := strings.ToLower(m.lists[screenJobs].filter)
	if f == "" {
		return m.jobs
	}
	var out []controlapi.Job
	for _, j := range m.jobs {
		if strings.Contains(strings.ToLower(strings.Join([]string{j.ID, j.Name, j.Model, j.State}, " ")), f) {
			out = append(out, j)
		}
	}
	return out
}

func (m Model) rowCount(s screen) int {
	switch s {
	case screenPeers:
		return len(m.visiblePeers())
	case screenJobs:
		return len(m.visibleJobs())
	case screenModels:
		return len(m.visibleModels())
	case screenQuery:
		return len(m.queryModels())
	case screenLog:
		return len(m.visibleLogs())
	}
	return 0
}

func (m Model) selectedID() (string, bool) {
	l := m.lists[m.screen]
	switch m.screen {
	case screenPeers:
		if ps := m.visiblePeers(); l.cursor < len(ps) {
			return ps[l.cursor].ID, true
		}
	case screenJobs:
		if js := m.visibleJobs(); l.cursor < len(js) {
			return js[l.cursor].ID, true
		}
	}
	return "", false
}

// clampAll keeps every cursor on a row and in the visible window.
func (m *Model) clampAll() {
	rows := m.tableRows()
	for s := range numScreens {
		l := &m.lists[s]
		n := m.rowCount(s)
		l.cursor = max(0, min(l.cursor, n-1))
		if l.cursor < l.offset {
			l.offset = l.cursor
		}
		if rows > 0 && l.cursor >= l.offset+rows {
			l.offset = l.cursor - rows + 1
		}
		l.offset = max(0, min(l.offset, n-rows))
	}
}
