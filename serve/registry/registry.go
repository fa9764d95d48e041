package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve/inference"
)

// Defaults of Options; a zero field takes these.
const (
	DefaultKeepVersions   = 2
	DefaultRescanInterval = 2 * time.Second
	DefaultMaxBatchSize   = 32
	DefaultQueueSize      = 1024
	// DefaultBatchTimeout is 0: a batch takes what is queued when the
	// previous forward pass ends and does not wait for more (see doc.go
	// for the measurements behind it).
	DefaultBatchTimeout = 0
)

// StateUnloaded is the Error of a version that loads fine but is not kept
// loaded (State END): it is neither among the newest KeepVersions nor
// labelled.
const StateUnloaded = "unloaded"

// ErrClosed is returned (wrapped, together with inference.ErrNotReady) by
// every method, and by the Predict of every Model, once Close was called.
var ErrClosed = errors.New("registry: closed")

// errClosed wraps both, so a front-end maps it to 503.
var errClosed = fmt.Errorf("%w (%w)", ErrClosed, inference.ErrNotReady)

// Options configure a Registry. The zero value is valid: every zero field
// takes its default.
type Options struct {
	// KeepVersions is how many of the newest versions of each model that
	// load stay loaded (besides every labelled version); default 2.
	KeepVersions int
	// RescanInterval is how often the store's folders are read again, to
	// find versions and labels that arrived without a store notification
	// (copied in by hand, written by another process), and to retry a
	// version whose file changed since it failed to load. Default 2 s; a
	// negative value turns the rescan off (notifications and Rescan still
	// work).
	RescanInterval time.Duration
	// MaxBatchSize bounds the inputs of one forward pass; default 32. A
	// request with more inputs than this runs alone, in one pass.
	MaxBatchSize int
	// BatchTimeout is how long a batch that is not full waits for more
	// requests after its first one. 0 (the default) takes what is queued
	// without waiting; a negative value is refused.
	BatchTimeout time.Duration
	// QueueSize bounds the requests waiting for a forward pass, per loaded
	// version; default 1024. When it is full Predict fails at once with an
	// error wrapping inference.ErrOverloaded.
	QueueSize int
	// Registerer, when not nil, receives the registry's metrics (see
	// doc.go). Give each registry a registerer of its own (a
	// prometheus.NewRegistry, or one wrapped with a prefix or labels):
	// registering twice in one fails New.
	Registerer prometheus.Registerer
	// Logger receives loads, unloads and failures; nil discards them.
	Logger *slog.Logger
	// MemBudget, when > 0, bounds the memory the loaded versions take,
	// each weighed from its file before it loads (footprint.go): a
	// version whose load would exceed it is not loaded (END, with an
	// error wrapping ErrOverBudget that names the sizes) and is tried
	// again on each pass, as others unload. 0: no bound.
	MemBudget int64

	// testHookBeforePass, set by tests, runs in a batcher before each
	// forward pass of n inputs.
	testHookBeforePass func(m *model, n int)
}

func (o Options) withDefaults() (Options, error) {
	if o.KeepVersions < 0 || o.MaxBatchSize < 0 || o.QueueSize < 0 || o.BatchTimeout < 0 || o.MemBudget < 0 {
		return o, fmt.Errorf("registry: negative option (keep %d, max batch %d, queue %d, batch timeout %v)",
			o.KeepVersions, o.MaxBatchSize, o.QueueSize, o.BatchTimeout)
	}
	if o.KeepVersions == 0 {
		o.KeepVersions = DefaultKeepVersions
	}
	if o.RescanInterval == 0 {
		o.RescanInterval = DefaultRescanInterval
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Registry serves the models of a modelstore.Store: an inference.Catalog
// whose Models batch concurrent requests. It is safe for concurrent use.
type Registry struct {
	store *modelstore.Store
	opt   Options
	log   *slog.Logger
	met   *metrics // nil: no metrics

	// passMu lets one pass (see sync.go) run at a time.
	passMu sync.Mutex
	// planMu orders the parts of a pass that read the store and decide
	// what to load or unload against SetLabel, so that a label being set
	// cannot be overwritten by an older read of labels.json, nor its
	// version unloaded under it. Lock order: passMu, planMu, mu.
	planMu sync.Mutex

	mu     sync.RWMutex
	models map[string]*modelState
	// held names the models the operator unloaded (Unload): none of
	// their versions is kept loaded until Serve. Guarded by mu.
	held map[string]bool
	// reserved is the Peak of the loads in progress under a MemBudget.
	// Guarded by mu.
	reserved int64

	closed   atomic.Bool
	kick     chan struct{} // capacity 1: a pass is wanted
	stop     chan struct{}
	loopDone chan struct{}
	unsub    func()
	closeMu  sync.Mutex
}

// modelState is what the registry knows of one model. Guarded by
// Registry.mu.
type modelState struct {
	versions map[int]*versionState
	labels   map[string]int
	held     bool // a copy of Registry.held[name], for wanted
}

// versionState is one version's state. Guarded by Registry.mu.
type versionState struct {
	state string // an inference.State* constant
	err   string // why it is not AVAILABLE
	// failed is set when the last load failed; stat is the model file's
	// size and time before that attempt, and a change of either makes the
	// version worth loading again.
	failed bool
	stat   fileStat
	// overBudget marks a failure for want of memory: it is retried on
	// every pass, since what others hold changes without its file.
	overBudget bool
	saidBudget string // the refusal last logged
	m          *model // when AVAILABLE
}

// New serves the models of store. It reads the store and loads what the
// policy keeps (see doc.go) before it returns, as TensorFlow Serving
// loads its models before it answers; later versions load in the
// background and report LOADING meanwhile. Call Close to stop it.
func New(store *modelstore.Store, opts Options) (*Registry, error) {
	if store == nil {
		return nil, errors.New("registry: nil store")
	}
	opt, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		store:    store,
		opt:      opt,
		log:      opt.Logger,
		models:   map[string]*modelState{},
		held:     map[string]bool{},
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	if opt.Registerer != nil {
		if r.met, err = newMetrics(opt.Registerer, opt.MaxBatchSize); err != nil {
			return nil, err
		}
	}
	// Subscribe before the first pass, so that nothing published while it
	// runs goes unnoticed.
	r.unsub = store.Subscribe(func(modelstore.Event) { r.wake() })
	r.pass()
	go r.loop()
	return r, nil
}

// wake asks the loop for a pass; it never blocks (a pass already asked for
// covers this change too).
func (r *Registry) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Registry) loop() {
	defer close(r.loopDone)
	var tick <-chan time.Time
	if r.opt.RescanInterval > 0 {
		t := time.NewTicker(r.opt.RescanInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
		case <-tick:
		}
		r.pass()
	}
}

// Rescan reads the store now and loads, retries and unloads versions as
// the policy says, before it returns. The registry does this by itself on
// every store notification and every RescanInterval; Rescan is for an
// operator's "reload now" and for tests.
func (r *Registry) Rescan() error {
	if r.closed.Load() {
		return errClosed
	}
	r.pass()
	return nil
}

// Close stops the rescans and the batchers. Requests already queued are
// answered; every later Lookup, Predict, SetLabel and Rescan fails with an
// error wrapping ErrClosed. Close waits for a pass in progress (a model
// being loaded) to end. It may be called more than once.
func (r *Registry) Close() error {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closed.Swap(true) {
		return nil
	}
	r.unsub()
	close(r.stop)
	<-r.loopDone
	r.passMu.Lock()
	defer r.passMu.Unlock()
	r.planMu.Lock()
	defer r.planMu.Unlock()
	r.mu.Lock()
	var ms []*model
	for name, st := range r.models {
		for _, vs := range st.versions {
			if vs.m != nil {
				ms = append(ms, vs.m)
				vs.m = nil
				vs.state, vs.err = inference.StateEnd, StateUnloaded
			}
		}
		r.met.setLoaded(name, 0)
	}
	r.mu.Unlock()
	for _, m := range ms {
		m.retire()
	}
	for _, m := range ms {
		<-m.done // queued requests answered
	}
	return nil
}

// Names lists the models with at least one known version, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.models))
}

// Lookup returns a loaded version of name: version when > 0, else the
// version label points at when label != "", else the newest version that
// loaded. See inference.Catalog for the errors. The Model stays usable
// after a newer version replaces it or it is unloaded: requests holding
// it are answered (without batching once it is unloaded).
func (r *Registry) Lookup(name string, version int, label string) (inference.Model, error) {
	if r.closed.Load() {
		return nil, errClosed
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.models[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	switch {
	case version > 0:
		return st.get(name, version)
	case version < 0:
		return nil, fmt.Errorf("%w: version %d of %q (versions start at 1)", inference.ErrVersionNotFound, version, name)
	case label != "":
		v, ok := st.labels[label]
		if !ok {
			return nil, fmt.Errorf("%w: %q has no label %q", inference.ErrVersionNotFound, name, label)
		}
		m, err := st.get(name, v)
		if err != nil {
			return nil, fmt.Errorf("label %q: %w", label, err)
		}
		return m, nil
	}
	return st.newest(name)
}

// get returns version v when it is AVAILABLE.
func (st *modelState) get(name string, v int) (*model, error) {
	vs, ok := st.versions[v]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: version %d of %q", inference.ErrVersionNotFound, v, name)
	case vs.m != nil:
		return vs.m, nil
	case vs.state == inference.StateStart || vs.state == inference.StateLoading:
		return nil, fmt.Errorf("%w: version %d of %q is loading", inference.ErrNotReady, v, name)
	case vs.failed && vs.overBudget:
		return nil, fmt.Errorf("%w: version %d of %q not loaded: %s (%w)", inference.ErrVersionNotFound, v, name, vs.err, ErrOverBudget)
	case vs.failed:
		return nil, fmt.Errorf("%w: version %d of %q failed to load: %s", inference.ErrVersionNotFound, v, name, vs.err)
	}
	return nil, fmt.Errorf("%w: version %d of %q is not loaded (%s: only labelled versions and the newest that load stay loaded)",
		inference.ErrVersionNotFound, v, name, vs.err)
}

// newest returns the newest AVAILABLE version.
func (st *modelState) newest(name string) (*model, error) {
	var best *model
	loading := false
	var failures []string
	for _, v := range slices.Backward(sortedVersions(st.versions)) {
		vs := st.versions[v]
		if vs.m != nil {
			best = vs.m
			break
		}
		switch {
		case vs.state == inference.StateStart || vs.state == inference.StateLoading:
			loading = true
		case vs.failed && len(failures) < 3:
			failures = append(failures, fmt.Sprintf("version %d: %s", v, vs.err))
		}
	}
	switch {
	case best != nil:
		return best, nil
	case loading:
		return nil, fmt.Errorf("%w: %q has no version loaded yet", inference.ErrNotReady, name)
	case len(failures) > 0:
		return nil, fmt.Errorf("%w: no version of %q loaded (%s)", inference.ErrVersionNotFound, name, joinShort(failures))
	}
	return nil, fmt.Errorf("%w: no version of %q is loaded", inference.ErrVersionNotFound, name)
}

func joinShort(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

func sortedVersions(m map[int]*versionState) []int {
	return slices.Sorted(maps.Keys(m))
}

// Versions reports every version of name the registry knows, newest
// first, loaded or not.
func (r *Registry) Versions(name string) ([]inference.VersionStatus, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.models[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	vs := sortedVersions(st.versions)
	out := make([]inference.VersionStatus, 0, len(vs))
	for _, v := range slices.Backward(vs) {
		s := st.versions[v]
		out = append(out, inference.VersionStatus{Version: v, State: s.state, Error: s.err})
	}
	return out, nil
}

// Labels maps each label of name to its version (a new map).
func (r *Registry) Labels(name string) (map[string]int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	st, ok := r.models[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	return maps.Clone(st.labels), nil
}

// SetLabel points label at version of name, in the store (labels.json)
// and at once for Lookup. It refuses a version that did not load: one
// that failed (the error wraps inference.ErrVersionNotFound and says
// why), one still loading (inference.ErrNotReady) or an unknown one. A
// version that loads fine but is not kept loaded (END "unloaded") is
// loaded first, and refused if that fails. A label that breaks
// modelstore.ValidLabel is refused with an error wrapping both
// modelstore.ErrInvalidName and inference.ErrBadInput.
func (r *Registry) SetLabel(name, label string, version int) error {
	if r.closed.Load() {
		return errClosed
	}
	if err := modelstore.ValidLabel(label); err != nil {
		return fmt.Errorf("registry: %w (%w)", err, inference.ErrBadInput)
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	refuse := func(err error) error {
		return fmt.Errorf("registry: label %q not set: %w", label, err)
	}
	r.mu.Lock()
	st, ok := r.models[name]
	if !ok {
		r.mu.Unlock()
		return refuse(fmt.Errorf("%w: %q", inference.ErrModelNotFound, name))
	}
	vs := st.versions[version]
	needLoad := vs != nil && vs.m == nil && !vs.failed && vs.state == inference.StateEnd
	if needLoad {
		vs.state, vs.err = inference.StateLoading, ""
	}
	r.mu.Unlock()
	if needLoad {
		r.load(name, version)
	}
	r.mu.RLock()
	_, err := st.get(name, version)
	r.mu.RUnlock()
	if err != nil {
		return refuse(err)
	}
	if err := r.store.SetLabel(name, label, version); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	r.mu.Lock()
	st.labels[label] = version
	r.mu.Unlock()
	r.log.Info("label set", "model", name, "label", label, "version", version)
	return nil
}

// RemoveLabel deletes label of name from the store and at once for
// Lookup; removing an absent label is not an error. The version it
// pointed at stays loaded until the next pass finds it outside the policy.
func (r *Registry) RemoveLabel(name, label string) error {
	if r.closed.Load() {
		return errClosed
	}
	if err := modelstore.ValidLabel(label); err != nil {
		return fmt.Errorf("registry: %w (%w)", err, inference.ErrBadInput)
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	r.mu.RLock()
	st, ok := r.models[name]
	r.mu.RUnlock()
	if !ok {
		return fmt.Errorf("registry: %w: %q", inference.ErrModelNotFound, name)
	}
	if err := r.store.RemoveLabel(name, label); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	r.mu.Lock()
	delete(st.labels, label)
	r.mu.Unlock()
	return nil
}

var _ inference.Catalog = (*Registry)(nil)
