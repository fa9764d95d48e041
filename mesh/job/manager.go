package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/atomicfile"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/avg"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// topicName is the GossipSub topic (under the mesh id) of every job message.
const topicName = "jobs"

// Config sets up a Manager.
type Config struct {
	Node *mesh.Node
	// DataDir keeps job specs, checkpoints and shards (<DataDir>/jobs,
	// <DataDir>/shards). Empty: memory only, no resume.
	DataDir string
	// Models is where finished jobs publish their model.
	Models *modelstore.Store
	// Role is the node's role; edge nodes join only jobs that ask for them.
	Role   string
	Logger *slog.Logger
	// PrivateData, when set, names this peer's own data file or folder for
	// private-data jobs (default: the job's data path, read on this peer).
	PrivateData func(spec Spec) string
	// Averaging adjusts the averaging settings of a job on this peer
	// (testnet's --poison sets Tamper here). May be nil.
	Averaging func(spec Spec, c *avg.Config)
	// Timing; zero values take the defaults of fill.
	MinPeersWait  time.Duration // how long to wait for MinPeers members
	FinishWait    time.Duration // how long a trained peer waits for the others
	StatusTimeout time.Duration // a member silent this long is not a member
}

func (c *Config) fill() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MinPeersWait == 0 {
		c.MinPeersWait = 2 * time.Minute
	}
	if c.FinishWait == 0 {
		c.FinishWait = 5 * time.Minute
	}
	if c.StatusTimeout == 0 {
		c.StatusTimeout = 30 * time.Second
	}
}

// Event reports job progress to local subscribers (the control API).
type Event struct {
	Type   string    `json:"type"` // job_announced, job_status, job_done, job_failed
	Job    string    `json:"job"`
	Spec   *Spec     `json:"spec,omitempty"`
	Status *Status   `json:"status,omitempty"`
	Time   time.Time `json:"time"`
}

// Info summarises one job as this peer knows it.
type Info struct {
	Spec    Spec              `json:"spec"`
	State   string            `json:"state"` // this peer's state
	Self    Status            `json:"self"`
	Members map[string]Status `json:"members"` // latest status of every member heard, by peer id
	Result  *Result           `json:"result,omitempty"`
}

// Manager runs the jobs of one node.
type Manager struct {
	cfg    Config
	node   *mesh.Node
	log    *slog.Logger
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	avg    *avg.Service
	shards *shards.Store
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	jobs   map[string]*jobState
	subs   map[chan Event]struct{}
	closed bool
}

type jobState struct {
	ann     Announcement
	self    Status
	members map[peer.ID]memberStatus
	result  *Result
	err     error
	done    chan struct{}
	wake    chan struct{} // poked when a member's status changes
}

type memberStatus struct {
	status Status
	seen   time.Time
}

// NewManager joins the jobs topic, resumes the unfinished jobs found in the
// data dir and starts serving shards and parameter exchanges.
func NewManager(cfg Config) (*Manager, error) {
	cfg.fill()
	if cfg.Node == nil || cfg.Models == nil {
		return nil, errors.New("job: a node and a model store are required")
	}
	shardDir := ""
	if cfg.DataDir != "" {
		shardDir = filepath.Join(cfg.DataDir, "shards")
	}
	store, err := shards.NewStore(shardDir)
	if err != nil {
		// Corrupt shards were skipped; they will be fetched again.
		cfg.Logger.Warn("shard store", "err", err)
	}
	if store == nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, node: cfg.Node, log: cfg.Logger, shards: store, ctx: ctx, cancel: cancel,
		jobs: make(map[string]*jobState), subs: make(map[chan Event]struct{}),
	}
	m.topic, err = cfg.Node.JoinTopic(topicName, func(_ peer.ID, b []byte) error {
		_, err := decodeMessage(b)
		return err
	})
	if err != nil {
		cancel()
		return nil, err
	}
	if m.sub, err = m.topic.Subscribe(); err != nil {
		cancel()
		return nil, err
	}
	shards.Serve(cfg.Node.Host(), cfg.Node.Protocol(shards.ProtocolName), store)
	m.avg = avg.NewService(cfg.Node.Host(), cfg.Node.Protocol(avg.ProtocolName))
	m.wg.Add(2)
	go m.readLoop()
	go m.heartbeat()
	m.resume()
	return m, nil
}

// Shards is this peer's shard store (testnet counts lost shards with it).
func (m *Manager) Shards() *shards.Store { return m.shards }

// Close stops every job on this peer (their checkpoints stay) and leaves
// the topic.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.sub.Cancel()
	m.wg.Wait()
	m.avg.Close()
	m.cfg.Node.Host().RemoveStreamHandler(m.cfg.Node.Protocol(shards.ProtocolName))
	_ = m.topic.Close()
	m.mu.Lock()
	for ch := range m.subs {
		close(ch)
	}
	m.subs = map[chan Event]struct{}{}
	m.mu.Unlock()
}

// Submit cuts the job's data into shards, announces the job and starts it on
// this peer. It returns the filled spec with its id.
func (m *Manager) Submit(ctx context.Context, spec Spec) (Spec, error) {
	spec.Fill()
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	manifest, _, err := Cut(spec, m.shards)
	if err != nil {
		return spec, err
	}
	if spec.Batch == 0 {
		spec.Batch = DefaultBatch(manifest.Kind)
	}
	spec.Submitter = m.node.ID().String()
	spec.Created = time.Now().Unix()
	spec.assignID()
	ann := Announcement{Spec: spec, Manifest: manifest}
	if err := ann.validate(); err != nil {
		return spec, err
	}
	if err := m.start(ann); err != nil {
		return spec, err
	}
	if err := m.announce(ctx, ann); err != nil {
		return spec, err
	}
	// Peers whose subscription we had not yet seen miss the first
	// announcement; repeat it until enough members joined.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.reannounce(ann)
	}()
	return spec, nil
}

func (m *Manager) announce(ctx context.Context, ann Announcement) error {
	b, err := encodeAnnouncement(ann)
	if err != nil {
		return err
	}
	return m.topic.Publish(ctx, b)
}

func (m *Manager) reannounce(ann Announcement) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	deadline := time.After(m.cfg.MinPeersWait)
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-deadline:
			return
		case <-t.C:
		}
		if len(m.members(ann.Spec.ID, false)) >= ann.Spec.MinPeers {
			return
		}
		if err := m.announce(m.ctx, ann); err != nil {
			m.log.Debug("re-announce", "job", ann.Spec.ID, "err", err)
		}
	}
}

// start records a job and runs it on this peer, unless it is known already.
func (m *Manager) start(ann Announcement) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("job: manager closed")
	}
	if _, ok := m.jobs[ann.Spec.ID]; ok {
		m.mu.Unlock()
		return nil
	}
	js := &jobState{
		ann:     ann,
		self:    Status{Job: ann.Spec.ID, Peer: m.node.ID().String(), State: StateJoined},
		members: make(map[peer.ID]memberStatus),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	m.jobs[ann.Spec.ID] = js
	m.mu.Unlock()
	if err := m.persist(ann); err != nil {
		m.log.Warn("job spec not saved; this job will not resume after a restart", "job", ann.Spec.ID, "err", err)
	}
	spec := ann.Spec
	m.emit(Event{Type: "job_announced", Job: spec.ID, Spec: &spec, Time: time.Now()})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r := &runner{m: m, js: js, spec: ann.Spec, manifest: ann.Manifest, log: m.log.With("job", spec.ID)}
		res, err := r.run(m.ctx)
		m.mu.Lock()
		js.result, js.err = res, err
		m.mu.Unlock()
		close(js.done)
		// The result is stored before anyone hears "done" or "failed", so a
		// reader that reacts to the status finds it (Outcome, Wait).
		switch {
		case err == nil:
			r.setState(StateDone)
			m.emit(Event{Type: "job_done", Job: spec.ID, Status: ptr(r.status()), Time: time.Now()})
		case m.ctx.Err() == nil:
			m.log.Warn("job failed", "job", spec.ID, "err", err)
			r.st.Error = truncate(err.Error(), 1024)
			if r.av != nil {
				r.setState(StateFailed)
			} else {
				r.st.State = StateFailed
				m.publishStatus(js, r.st)
			}
			m.emit(Event{Type: "job_failed", Job: spec.ID, Status: ptr(r.status()), Time: time.Now()})
		}
	}()
	return nil
}

func ptr[T any](v T) *T { return &v }

// persist writes the announcement into <DataDir>/jobs/<id>/job.json.
func (m *Manager) persist(ann Announcement) error {
	dir := m.jobDir(ann.Spec.ID)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(ann)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "job.json"), b)
}

func (m *Manager) jobDir(id string) string {
	if m.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(m.cfg.DataDir, "jobs", id)
}

// finished reports whether job id has a "done" marker in the data dir.
func (m *Manager) finished(id string) bool {
	dir := m.jobDir(id)
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "done"))
	return err == nil
}

// resume restarts every job in the data dir that has no "done" marker.
func (m *Manager) resume() {
	if m.cfg.DataDir == "" {
		return
	}
	entries, err := os.ReadDir(filepath.Join(m.cfg.DataDir, "jobs"))
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(m.cfg.DataDir, "jobs", e.Name())
		if m.finished(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "job.json"))
		if err != nil {
			continue
		}
		ann, err := decodeAnnouncementFile(b)
		if err != nil {
			m.log.Warn("cannot resume job", "dir", dir, "err", err)
			continue
		}
		m.log.Info("resuming job", "job", ann.Spec.ID)
		_ = m.start(ann)
	}
}

func decodeAnnouncementFile(b []byte) (Announcement, error) {
	var ann Announcement
	if len(b) > maxMessage {
		return ann, fmt.Errorf("job file of %d bytes exceeds %d", len(b), maxMessage)
	}
	if err := json.Unmarshal(b, &ann); err != nil {
		return ann, err
	}
	return ann, ann.validate()
}

func (m *Manager) readLoop() {
	defer m.wg.Done()
	for {
		msg, err := m.sub.Next(m.ctx)
		if err != nil {
			return
		}
		from := msg.GetFrom()
		if from == m.node.ID() {
			continue
		}
		env, err := decodeMessage(msg.Data) // validated already; decoded again for the value
		if err != nil {
			continue
		}
		switch env.Kind {
		case kindAnnounce:
			if m.cfg.Role == mesh.RoleEdge && !env.Announce.Spec.Edge {
				continue
			}
			if m.finished(env.Announce.Spec.ID) {
				continue // done before a restart (resume skips it too): a re-announcement must not run it again
			}
			if err := m.start(*env.Announce); err != nil {
				m.log.Debug("job not started", "err", err)
			}
		case kindStatus:
			st := *env.Status
			st.Peer = from.String() // the signed origin, not what the body claims
			m.mu.Lock()
			js, ok := m.jobs[st.Job]
			if ok {
				if st.Have == nil {
					// A status carries the shards held only when that list
					// changed (runner.publish): keep the last one heard, or
					// holders() would forget who holds what.
					st.Have = js.members[from].status.Have
				}
				js.members[from] = memberStatus{status: st, seen: time.Now()}
				select {
				case js.wake <- struct{}{}:
				default:
				}
			}
			m.mu.Unlock()
			if ok {
				m.emit(Event{Type: "job_status", Job: st.Job, Status: &st, Time: time.Now()})
			}
		}
	}
}

// members returns the peers taking part in job id: those that sent a status
// recently and are alive in the peer table, plus self, sorted. With
// excludeFinished, members that are done or failed are left out.
func (m *Manager) members(id string, excludeFinished bool) []peer.ID {
	out := []peer.ID{m.node.ID()}
	m.mu.Lock()
	js, ok := m.jobs[id]
	var heard []peer.ID
	if ok {
		for p, ms := range js.members {
			if time.Since(ms.seen) > m.cfg.StatusTimeout {
				continue
			}
			if excludeFinished && (ms.status.State == StateDone || ms.status.State == StateFailed) {
				continue
			}
			heard = append(heard, p)
		}
	}
	m.mu.Unlock()
	for _, p := range heard {
		if info, ok := m.node.Peer(p); ok && info.Alive {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// memberStatuses copies the latest statuses of job id's members.
func (m *Manager) memberStatuses(id string) map[peer.ID]Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[peer.ID]Status{}
	if js, ok := m.jobs[id]; ok {
		for p, ms := range js.members {
			out[p] = ms.status
		}
	}
	return out
}

// Jobs lists the jobs this peer knows, newest first.
func (m *Manager) Jobs() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.jobs))
	for _, js := range m.jobs {
		info := Info{Spec: js.ann.Spec, State: js.self.State, Self: js.self, Members: map[string]Status{}, Result: js.result}
		for p, ms := range js.members {
			info.Members[p.String()] = ms.status
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Spec.Created != b.Spec.Created {
			return int(b.Spec.Created - a.Spec.Created)
		}
		return cmpString(a.Spec.ID, b.Spec.ID)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Wait blocks until job id ends on this peer and returns its result.
func (m *Manager) Wait(ctx context.Context, id string) (*Result, error) {
	m.mu.Lock()
	js, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("job %s: unknown on this peer", id)
	}
	select {
	case <-js.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return js.result, js.err
}

// Known reports whether this peer has heard of job id.
func (m *Manager) Known(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.jobs[id]
	return ok
}

// Subscribe returns a channel of job events. Events are dropped for a
// subscriber whose buffer is full (the node never blocks on a slow one);
// cancel must be called once.
func (m *Manager) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	m.mu.Lock()
	if m.closed {
		close(ch)
	} else {
		m.subs[ch] = struct{}{}
	}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			if _, ok := m.subs[ch]; ok {
				delete(m.subs, ch)
				close(ch)
			}
			m.mu.Unlock()
		})
	}
}

func (m *Manager) emit(e Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// publishStatus records this peer's status and sends it to the others.
func (m *Manager) publishStatus(js *jobState, st Status) {
	m.mu.Lock()
	js.self = st
	m.mu.Unlock()
	m.emit(Event{Type: "job_status", Job: st.Job, Status: &st, Time: time.Now()})
	b, err := encodeStatus(st)
	if err != nil {
		m.log.Warn("status not sent", "err", err)
		return
	}
	if err := m.topic.Publish(m.ctx, b); err != nil && m.ctx.Err() == nil {
		m.log.Debug("status not sent", "err", err)
	}
}

// statusEvery is how often a peer repeats its latest status for every job
// it knows, finished ones included: a peer that (re)starts late learns from
// these who takes part and who has finished, and a member stays fresh
// (StatusTimeout) through long silent phases such as the final agreement.
const statusEvery = 2 * time.Second

func (m *Manager) heartbeat() {
	defer m.wg.Done()
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		var sts []Status
		for _, js := range m.jobs {
			sts = append(sts, js.self)
		}
		m.mu.Unlock()
		for _, st := range sts {
			st.Have = nil // shard lists go out when they change, not every beat
			if b, err := encodeStatus(st); err == nil {
				_ = m.topic.Publish(m.ctx, b)
			}
		}
	}
}

// Announcement returns the announcement of job id as this peer knows it.
func (m *Manager) Announcement(id string) (Announcement, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	js, ok := m.jobs[id]
	if !ok {
		return Announcement{}, false
	}
	return js.ann, true
}

// Outcome reports, without blocking, whether job id has ended on this peer,
// and if so how: its result, or the error it failed with. ended is false
// for a running or unknown job.
func (m *Manager) Outcome(id string) (res *Result, ended bool, err error) {
	m.mu.Lock()
	js, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	select {
	case <-js.done:
	default:
		return nil, false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return js.result, true, js.err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
