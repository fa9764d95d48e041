package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/clip"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/avg"
	"github.com/shoalmesh/shoal/mesh/shards"
)

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

	mu   sync.Mutex
	jobs map[string]*jobState
	// refused holds the ids of announcements refused here (admission.go),
	// so that their re-announcements are not reported again.
	refused map[string]struct{}
	// pending holds the jobs waiting for the operator (pending.go),
	// preparing this node's submissions whose data is being cut
	// (submit.go), forgotten the ids of pruned jobs (prune.go).
	pending   map[string]*pendingJob
	preparing map[string]*preparingJob
	forgotten map[string]struct{}
	subs      map[chan Event]struct{}
	closed    bool
	// prepare cuts a submission's data (m.cut; tests slow it down).
	prepare func(Spec) (Manifest, error)
}

type jobState struct {
	ann     Announcement
	self    Status
	members map[peer.ID]memberStatus
	result  *Result
	err     error
	done    chan struct{}
	wake    chan struct{} // poked when a member's status changes
	// cancel ends the job's run here (cancel.go); its cause says who asked.
	cancel context.CancelCauseFunc
	// refusals are the peers that refused this job, kept by its submitter
	// (refusal.go).
	refusals map[peer.ID]Refusal
	// ended is when the run ended here; release frees what a finished
	// run still holds (its averager, which serves the final vector to
	// late members) once the job is pruned.
	ended   time.Time
	release func()
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
	if cfg.JoinPolicy != JoinAuto && cfg.JoinPolicy != JoinAsk && cfg.JoinPolicy != JoinOff {
		return nil, fmt.Errorf("job: join policy %q, want %s, %s or %s", cfg.JoinPolicy, JoinAuto, JoinAsk, JoinOff)
	}
	if cfg.MaxJobs < 0 {
		return nil, fmt.Errorf("job: max jobs %d, want at least 1", cfg.MaxJobs)
	}
	if cfg.KeepFinished < 0 || cfg.PendingTimeout < 0 {
		return nil, fmt.Errorf("job: keep finished %d and pending timeout %s, want neither negative", cfg.KeepFinished, cfg.PendingTimeout)
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
		jobs: make(map[string]*jobState), refused: make(map[string]struct{}), subs: make(map[chan Event]struct{}),
		pending: make(map[string]*pendingJob), preparing: make(map[string]*preparingJob), forgotten: make(map[string]struct{}),
	}
	m.prepare = m.manifestOf
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
	for _, p := range m.pending {
		p.timer.Stop()
	}
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
	if _, ok := m.forgotten[ann.Spec.ID]; ok {
		m.mu.Unlock()
		return nil // ended and pruned here: a late re-announcement must not run it again
	}
	js := &jobState{
		ann:     ann,
		self:    Status{Job: ann.Spec.ID, Peer: m.node.ID().String(), State: StateJoined},
		members: make(map[peer.ID]memberStatus),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	jctx, jcancel := context.WithCancelCause(m.ctx)
	js.cancel = jcancel
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
		res, err := r.run(jctx)
		if c := canceled(jctx); err != nil && c != nil {
			err = c // "canceled by …", not "context canceled"
		}
		jcancel(nil)
		m.mu.Lock()
		js.result, js.err, js.ended = res, err, time.Now()
		if err == nil {
			js.release = r.av.Close // stops serving the final vector, once pruned
		}
		m.mu.Unlock()
		close(js.done)
		defer m.prune()
		// The result is stored before anyone hears "done" or "failed", so a
		// reader that reacts to the status finds it (Outcome, Wait).
		switch {
		case err == nil:
			r.setState(StateDone)
			m.emit(Event{Type: "job_done", Job: spec.ID, Status: ptr(r.status()), Time: time.Now()})
		case m.ctx.Err() == nil:
			m.log.Warn("job failed", "job", spec.ID, "err", err)
			r.st.Error = clip.String(err.Error(), maxStatusError)
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
