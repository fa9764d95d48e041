package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/pbnjay/memory"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/edgepull"
	"github.com/shoalmesh/shoal/serve/forward"
	"github.com/shoalmesh/shoal/serve/modelserver"
	"github.com/shoalmesh/shoal/serve/pull"
	"github.com/shoalmesh/shoal/serve/registry"
)

// ModelsDir is the model store's folder inside the node's data dir.
const ModelsDir = "models"

// Config configures one node.
type Config struct {
	// Mesh configures the mesh host; Mesh.DataDir is the node's data dir
	// (identity, key, jobs, shards, models, API token) and is required.
	// When Mesh.PresenceExtra is nil the node fills it: its heartbeats then
	// name the models it holds and the jobs it has not finished.
	Mesh mesh.Config
	// Jobs adjusts the job manager (PrivateData, Averaging, timings). Node,
	// DataDir, Models, Role and Logger are set by Start.
	Jobs job.Config
	// API is the control API's listener. API.DataDir is set by Start;
	// API.Addr defaults to controlapi.DefaultAddr (127.0.0.1:7070), and
	// "127.0.0.1:0" picks a free port (see Node.APIAddr).
	API serve.ControlConfig
	// Serve is the model server (TF Serving REST and KServe v2, own
	// listener, default 127.0.0.1:8501). Its Catalog and Registry are set
	// by Start: the Catalog is the node's models, and for a model not held
	// here the peers that announce it (forward.Catalog). NoServe leaves it
	// out (the models still load, and still answer the mesh).
	Serve   modelserver.Config
	NoServe bool
	// Registry configures loading, hot reload and batching of the models.
	// On an edge node (Mesh.Role edge) a zero MemBudget is half of the
	// machine's memory (as for jobs), a zero KeepVersions 1 (a new
	// version replaces the old one rather than doubling what is held),
	// and pulls fetch the int8 form (serve/edgepull).
	Registry registry.Options
	// Pull names models (NAME or NAME@REF) to pull from peers once one
	// announces them, as `shoal models pull` would (on an edge node: the
	// int8 form), unless the store holds NAME already; `shoal up --serve`.
	// A pull is retried until it succeeds, the model is refused for want
	// of memory, or the node closes.
	Pull []string
	// Forward adjusts how queries for models held elsewhere go over the
	// mesh (timeouts, back-off). Logger is set by Start.
	Forward forward.Options
	// Logger receives every part's lines, each with a "part" attribute;
	// default: discard.
	Logger *slog.Logger
}

// Node is a running node. Its accessors are safe for concurrent use.
type Node struct {
	mesh   *mesh.Node
	models *modelstore.Store
	jobs   *job.Manager
	api    *serve.ControlServer
	loaded *registry.Registry
	infer  *forward.Server // answers the mesh's queries from loaded
	// stopPull unregisters the model transfer protocol (pull.Serve).
	stopPull func()
	fwd      *forward.Catalog // loaded, then the peers: what http serves
	// serving is set once loaded and infer are, so that the heartbeat
	// goroutine (presenceExtra) may read them.
	serving atomic.Bool
	http    *modelserver.Server
	prom    *prometheus.Registry
	log     *slog.Logger

	// stopPulls ends the Config.Pull loops; pulls waits for them.
	stopPulls context.CancelFunc
	pulls     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start starts a node's parts in order and returns once the control API
// listens. ctx bounds the start only (dialling bootstrap peers, binding),
// not the node's life: that ends with Close. On an error every part already
// started is stopped again.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Every part logs through the ring too, for the control API's log
	// tail (the console's Log screen).
	logRing := serve.NewLogRing(log.Handler(), serve.DefaultLogLines)
	log = slog.New(logRing)
	dataDir := cfg.Mesh.DataDir
	if dataDir == "" {
		return nil, errors.New("node: no data dir")
	}
	n := &Node{log: log, prom: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			_ = n.Close()
		}
	}()

	// The heartbeats name the node's models and jobs, which exist only
	// after the mesh host does: the heartbeat reads them through this
	// pointer, set once the job manager runs.
	var extra atomic.Pointer[func() mesh.PresenceExtra]
	mc := cfg.Mesh
	if mc.Metrics == nil {
		mc.Metrics = n.prom
	}
	if mc.Logger == nil {
		mc.Logger = log.With("part", "mesh")
	}
	if mc.PresenceExtra == nil {
		mc.PresenceExtra = func() mesh.PresenceExtra {
			if f := extra.Load(); f != nil {
				return (*f)()
			}
			return mesh.PresenceExtra{}
		}
	}
	if n.mesh, err = mesh.Start(ctx, mc); err != nil {
		return nil, err
	}

	if n.models, err = modelstore.Open(n.mesh.DataPath(ModelsDir)); err != nil {
		return nil, fmt.Errorf("model store: %w", err)
	}

	jc := cfg.Jobs
	jc.Node, jc.DataDir, jc.Models, jc.Role = n.mesh, dataDir, n.models, mc.Role
	if jc.Logger == nil {
		jc.Logger = log.With("part", "jobs")
	}
	if n.jobs, err = job.NewManager(jc); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	f := n.presenceExtra
	extra.Store(&f)

	ro := cfg.Registry
	if ro.Registerer == nil {
		ro.Registerer = n.prom
	}
	if ro.Logger == nil {
		ro.Logger = log.With("part", "models")
	}
	edge := mc.Role == mesh.RoleEdge
	if edge {
		if ro.MemBudget == 0 {
			ro.MemBudget = int64(memory.TotalMemory() / 2) // 0 where unknown: no bound
		}
		if ro.KeepVersions == 0 {
			ro.KeepVersions = 1
		}
	}
	if n.loaded, err = registry.New(n.models, ro); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	// The mesh's queries are answered from the node's own models only, so
	// a query is forwarded at most once.
	n.infer = forward.Serve(n.mesh, n.loaded, log.With("part", "forward"))
	fo := cfg.Forward
	if fo.Logger == nil {
		fo.Logger = log.With("part", "forward")
	}
	n.fwd = forward.NewCatalog(n.mesh, n.loaded, fo)
	// Peers pull models from this node's store, and `shoal models pull`
	// fetches from theirs, over the mesh-scoped model transfer protocol.
	puller := pull.NewPuller(n.mesh, n.models)
	if n.stopPull, err = puller.Serve(); err != nil {
		return nil, fmt.Errorf("model transfer: %w", err)
	}
	var pullFor serve.Puller = puller
	if edge {
		pullFor = edgepull.New(n.mesh, n.models, n.loaded, log.With("part", "edge"))
	}
	n.serving.Store(true)
	if !cfg.NoServe {
		sc := cfg.Serve
		sc.Catalog, sc.Registry = n.fwd, n.prom
		if sc.Logger == nil {
			sc.Logger = log.With("part", "serve")
		}
		if sc.Version == "" {
			sc.Version = mc.Version
		}
		if n.http, err = modelserver.Start(ctx, sc); err != nil {
			return nil, err
		}
	}

	ac := cfg.API
	ac.DataDir = dataDir
	if ac.Logger == nil {
		ac.Logger = log.With("part", "api")
	}
	routes := map[string]http.Handler{}
	for p, h := range serve.JobRoutes(n.jobs) {
		routes[p] = h
	}
	models := serve.NewModelService(n.models, n.loaded, n.fwd, pullFor)
	for p, h := range serve.ModelRoutes(models) {
		routes[p] = h
	}
	for p, h := range serve.LogRoutes(logRing) {
		routes[p] = h
	}
	for p, h := range cfg.API.Routes {
		if _, dup := routes[p]; dup {
			return nil, fmt.Errorf("control API: route %q is the node's own", p)
		}
		routes[p] = h
	}
	ac.Routes = routes
	// The API lives until Close, not until the end of the start's ctx.
	apiCtx := context.WithoutCancel(ctx)
	if n.api, err = serve.StartControl(apiCtx, serve.WithJobEvents(serve.FromMesh(n.mesh), n.jobs), ac); err != nil {
		return nil, err
	}
	pctx, stop := context.WithCancel(apiCtx)
	n.stopPulls = stop
	for _, ref := range cfg.Pull {
		n.pulls.Add(1)
		go func() {
			defer n.pulls.Done()
			n.pullWhenHeld(pctx, models, ref)
		}()
	}
	return n, nil
}

// presenceExtra lists the models this node holds, those it serves (loaded
// versions, int8 or not, queue) and the jobs it has not finished, for its
// heartbeats (which keep at most 64 of each).
func (n *Node) presenceExtra() mesh.PresenceExtra {
	var x mesh.PresenceExtra
	if names, err := n.models.List(); err == nil {
		x.Models = names
	}
	if n.serving.Load() {
		x.Served = forward.Announce(n.loaded, n.infer)
	}
	for _, j := range n.jobs.Jobs() {
		switch j.State {
		case job.StatePending, job.StateDeclined, job.StateExpired, job.StatePreparing:
			continue // not (yet) a job this node takes part in
		}
		if j.Result == nil {
			x.Jobs = append(x.Jobs, j.Spec.ID)
		}
	}
	return x
}

// Mesh is the node's mesh host.
func (n *Node) Mesh() *mesh.Node { return n.mesh }

// Jobs is the node's job manager.
func (n *Node) Jobs() *job.Manager { return n.jobs }

// Models is the node's model store (<data dir>/models), the one its jobs
// publish to.
func (n *Node) Models() *modelstore.Store { return n.models }

// APIAddr is the control API's bound address, host:port.
func (n *Node) APIAddr() string { return n.api.Addr().String() }

// APIClient is a control API client for this node, as `shoal peers` or the
// console would make from the data dir's token file.
func (n *Node) APIClient() *controlapi.Client { return controlapi.New(n.APIAddr(), n.api.Token()) }

// Catalog is the node's loaded models.
func (n *Node) Catalog() *registry.Registry { return n.loaded }

// Forward is what its model server serves: the node's loaded models, then
// the peers that announce the others.
func (n *Node) Forward() *forward.Catalog { return n.fwd }

// ServeAddr is the model server's bound address, "" without one.
func (n *Node) ServeAddr() string {
	if n.http == nil {
		return ""
	}
	return n.http.Addr().String()
}

// Metrics is the node's own Prometheus registry (model server, registry,
// libp2p host), what the model server's /metrics shows.
func (n *Node) Metrics() *prometheus.Registry { return n.prom }

// Failed delivers the error of a listener (control API or model server)
// that stopped on its own while the node ran.
func (n *Node) Failed() <-chan error {
	if n.http == nil {
		return n.api.Failed()
	}
	out := make(chan error, 1)
	go func() {
		select {
		case err := <-n.api.Failed():
			out <- err
		case err := <-n.http.Failed():
			out <- err
		}
	}()
	return out
}

// Close stops the parts in the reverse order of Start: the model server,
// the control API, the mesh's infer and model transfer handlers, the jobs
// (their checkpoints stay, so the next start resumes them), the models, the
// mesh host. It is
// safe to call more than once, and on a node whose Start failed half-way
// (from Start itself).
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.stopPulls != nil {
			n.stopPulls()
			n.pulls.Wait()
		}
		var errs []error
		if n.http != nil {
			errs = append(errs, n.http.Close())
		}
		if n.api != nil {
			errs = append(errs, n.api.Close())
		}
		if n.infer != nil {
			errs = append(errs, n.infer.Close())
		}
		if n.stopPull != nil {
			n.stopPull()
		}
		if n.jobs != nil {
			n.jobs.Close()
		}
		if n.loaded != nil {
			errs = append(errs, n.loaded.Close())
		}
		if n.mesh != nil {
			errs = append(errs, n.mesh.Close())
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
