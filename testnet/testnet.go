package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/node"
)

// Defaults for test meshes: fast heartbeats so tests finish quickly, a
// timeout of four heartbeats so a killed peer is gone well within 10 s even
// when no disconnect is seen.
const (
	DefaultHeartbeat   = time.Second
	DefaultPeerTimeout = 4 * time.Second
	// DefaultAPIAddr gives every node's control API a free loopback port.
	DefaultAPIAddr = "127.0.0.1:0"
)

// Option configures a Net.
type Option func(*config) error

type config struct {
	heartbeat, timeout time.Duration
	dht                bool
	logger             *slog.Logger
	dir                string
	psk                pnet.PSK
	nodeConfig         func(i int, c *mesh.Config)
	jobConfig          func(i int, c *job.Config)
}

// WithHeartbeat sets the presence interval and peer timeout of every node.
func WithHeartbeat(every, timeout time.Duration) Option {
	return func(c *config) error {
		if every <= 0 || timeout < 2*every {
			return fmt.Errorf("testnet: heartbeat %v, timeout %v: want timeout >= 2 heartbeats", every, timeout)
		}
		c.heartbeat, c.timeout = every, timeout
		return nil
	}
}

// WithDHT turns the private DHT on in every node (off by default: it costs
// memory and the mesh does not need it on one machine).
func WithDHT(on bool) Option { return func(c *config) error { c.dht = on; return nil } }

// WithLogger gives every node a logger (with a "node" attribute).
func WithLogger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// WithDir keeps the nodes' data dirs under dir (node-0, node-1, …) and
// leaves them there on Close. Default: a temporary dir removed by Close.
func WithDir(dir string) Option { return func(c *config) error { c.dir = dir; return nil } }

// WithKey uses psk as the mesh key instead of a fresh random one.
func WithKey(psk pnet.PSK) Option {
	return func(c *config) error {
		if len(psk) != 32 {
			return fmt.Errorf("testnet: key is %d bytes, want 32", len(psk))
		}
		c.psk = psk
		return nil
	}
}

// WithNodeConfig lets the caller adjust node i's config (PresenceExtra,
// Role, …) before each start, restarts included.
func WithNodeConfig(f func(i int, c *mesh.Config)) Option {
	return func(c *config) error { c.nodeConfig = f; return nil }
}

// WithJobConfig lets the caller adjust node i's job manager config
// (PrivateData, Averaging, timings) before each start, restarts included.
func WithJobConfig(f func(i int, c *job.Config)) Option {
	return func(c *config) error { c.jobConfig = f; return nil }
}

// Net is a set of real nodes on 127.0.0.1 sharing one key, each a whole
// node as `shoal up` runs it (package serve/node: mesh host, model store,
// job manager, control API on a loopback port of its own). Its methods are
// safe for concurrent use.
type Net struct {
	cfg     config
	psk     pnet.PSK
	dir     string
	ownsDir bool

	mu     sync.Mutex
	nodes  []*node.Node // nil while killed
	ids    []peer.ID
	listen []string // each node's last TCP listen address, reused on restart
	api    []string // each node's last control API address, reused on restart
	denied map[[2]int]bool
	cancel []func() // event forwarders, per node
	closed bool

	// poke is signalled (never blocking) on every peer table change of any
	// node and every fault injected; WaitFor re-checks its condition then.
	pokeMu sync.Mutex
	pokes  map[chan struct{}]struct{}
}

// Start starts n nodes: node 0 first, then the others at once, each
// bootstrapping from node 0. It returns when all are started, not when
// they see each other: use WaitFor(ctx, net.Converged).
func Start(ctx context.Context, n int, opts ...Option) (*Net, error) {
	if n < 1 {
		return nil, fmt.Errorf("testnet: %d nodes, want at least 1", n)
	}
	cfg := config{heartbeat: DefaultHeartbeat, timeout: DefaultPeerTimeout}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	net := &Net{cfg: cfg, psk: cfg.psk, denied: map[[2]int]bool{}, pokes: map[chan struct{}]struct{}{},
		nodes: make([]*node.Node, n), ids: make([]peer.ID, n), listen: make([]string, n), api: make([]string, n),
		cancel: make([]func(), n)}
	if net.psk == nil {
		var err error
		if net.psk, err = mesh.NewKey(); err != nil {
			return nil, err
		}
	}
	if cfg.dir != "" {
		net.dir = cfg.dir
	} else {
		d, err := os.MkdirTemp("", "shoal-testnet-")
		if err != nil {
			return nil, err
		}
		net.dir, net.ownsDir = d, true
	}
	if err := net.startNode(ctx, 0, nil); err != nil {
		net.Close()
		return nil, err
	}
	boot := net.nodes[0].Mesh().Addrs()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = net.startNode(ctx, i, boot)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		net.Close()
		return nil, err
	}
	return net, nil
}

// KeyFile writes the mesh key in swarm.key format to path (mode 0600), so a
// process outside the Net can join it.
func (net *Net) KeyFile(path string) error {
	if err := os.WriteFile(path, mesh.EncodeKey(net.psk), 0o600); err != nil {
		return err
	}
	// WriteFile keeps the mode of a file that already exists.
	return os.Chmod(path, 0o600)
}

// PSK is the mesh key.
func (net *Net) PSK() pnet.PSK { return net.psk }

// Dir is the folder that holds the nodes' data dirs.
func (net *Net) Dir() string { return net.dir }

func (net *Net) nodeDir(i int) string { return filepath.Join(net.dir, "node-"+strconv.Itoa(i)) }

func (net *Net) startNode(ctx context.Context, i int, boot []string) error {
	net.mu.Lock()
	listen, api := net.listen[i], net.api[i]
	net.mu.Unlock()
	if listen == "" {
		listen = mesh.DefaultListen
	}
	logger := net.cfg.logger
	if logger != nil {
		logger = logger.With("node", i)
	}
	mc := mesh.Config{
		DataDir: net.nodeDir(i), PSK: net.psk, Listen: []string{listen}, Bootstrap: boot,
		Name: "node-" + strconv.Itoa(i), Role: mesh.RoleFull, Version: "testnet",
		DHT: net.cfg.dht, HeartbeatInterval: net.cfg.heartbeat, PeerTimeout: net.cfg.timeout,
		Logger: logger,
	}
	if net.cfg.nodeConfig != nil {
		net.cfg.nodeConfig(i, &mc)
	}
	var jc job.Config
	if net.cfg.jobConfig != nil {
		net.cfg.jobConfig(i, &jc)
	}
	if api == "" {
		api = DefaultAPIAddr
	}
	nc := node.Config{Mesh: mc, Jobs: jc, API: serve.ControlConfig{Addr: api}, Logger: logger}
	if logger == nil {
		nc.Logger = slog.New(slog.DiscardHandler)
	}
	full, err := node.Start(ctx, nc)
	if err != nil && (listen != mesh.DefaultListen || api != DefaultAPIAddr) {
		// The old ports may be taken by now; any will do, since presence
		// tells the others the new address (and APIAddr the API's).
		nc.Mesh.Listen, nc.API.Addr = []string{mesh.DefaultListen}, DefaultAPIAddr
		full, err = node.Start(ctx, nc)
	}
	if err != nil {
		return fmt.Errorf("testnet: node %d: %w", i, err)
	}
	nd := full.Mesh()
	ev, cancel := nd.Subscribe()
	go func() {
		for range ev {
			net.poke()
		}
	}()
	net.mu.Lock()
	defer net.mu.Unlock()
	if net.closed || net.nodes[i] != nil {
		// Closed meanwhile, or a concurrent Restart(i) won the race: two
		// live nodes with one identity would confuse every peer.
		cancel()
		full.Close()
		if net.closed {
			return errors.New("testnet: closed")
		}
		return fmt.Errorf("testnet: node %d is running", i)
	}
	net.nodes[i], net.ids[i], net.cancel[i] = full, nd.ID(), cancel
	if as := nd.Host().Addrs(); len(as) > 0 {
		net.listen[i] = as[0].String()
	}
	net.api[i] = full.APIAddr()
	// A restarted node comes back into the partition it was in.
	for pair := range net.denied {
		if pair[0] == i && net.ids[pair[1]] != "" {
			nd.Deny(net.ids[pair[1]])
		}
	}
	net.poke()
	return nil
}

// Len is the number of node slots, live or killed.
func (net *Net) Len() int { return len(net.nodes) }

// Node returns node i's mesh host, nil while the node is killed.
func (net *Net) Node(i int) *mesh.Node {
	if p := net.Peer(i); p != nil {
		return p.Mesh()
	}
	return nil
}

// Peer returns the whole node i (mesh, jobs, models, control API), nil
// while it is killed.
func (net *Net) Peer(i int) *node.Node {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.nodes[i]
}

// Jobs returns node i's job manager, nil while the node is killed.
func (net *Net) Jobs(i int) *job.Manager {
	if p := net.Peer(i); p != nil {
		return p.Jobs()
	}
	return nil
}

// APIAddr is node i's control API address (host:port on 127.0.0.1), kept
// across a restart when the port is still free; "" before the first start.
func (net *Net) APIAddr(i int) string {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.api[i]
}

// Client is a control API client for node i (nil while it is killed), as
// the console or the CLI would use; its token is in node i's data dir too.
func (net *Net) Client(i int) *controlapi.Client {
	if p := net.Peer(i); p != nil {
		return p.APIClient()
	}
	return nil
}

// DataDir is node i's data dir.
func (net *Net) DataDir(i int) string { return net.nodeDir(i) }

// ID is node i's peer id (kept across kill and restart).
func (net *Net) ID(i int) peer.ID {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.ids[i]
}

// Live lists the indices of running nodes.
func (net *Net) Live() []int {
	net.mu.Lock()
	defer net.mu.Unlock()
	var out []int
	for i, n := range net.nodes {
		if n != nil {
			out = append(out, i)
		}
	}
	return out
}

// Kill closes node i (as a clean shutdown would: API, jobs, then host).
func (net *Net) Kill(i int) error {
	net.mu.Lock()
	nd, cancel := net.nodes[i], net.cancel[i]
	net.nodes[i], net.cancel[i] = nil, nil
	net.mu.Unlock()
	if nd == nil {
		return fmt.Errorf("testnet: node %d is not running", i)
	}
	cancel()
	err := nd.Close()
	net.poke()
	return err
}

// Restart starts node i again with its identity and data dir, on its old
// address when free, bootstrapping from up to three other live nodes.
func (net *Net) Restart(i int) error {
	net.mu.Lock()
	if net.nodes[i] != nil {
		net.mu.Unlock()
		return fmt.Errorf("testnet: node %d is running", i)
	}
	// Bootstrap from up to three live nodes, as a node started with a
	// few --bootstrap addresses would: with one, a restarted node learns
	// the rest only from relayed heartbeats, which on a loaded machine
	// took more than the 3 s a return may take (about one run in four).
	var boot []string
	for j, n := range net.nodes {
		if n != nil && j != i && !net.denied[[2]int{i, j}] {
			boot = append(boot, n.Mesh().Addrs()...)
			if len(boot) >= 3*len(n.Mesh().Addrs()) {
				break
			}
		}
	}
	net.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return net.startNode(ctx, i, boot)
}

// Partition splits the mesh: nodes in different groups deny each other
// (through their connection gaters, which closes their connections). Nodes
// in no group form one more group. It replaces any earlier partition.
func (net *Net) Partition(groups ...[]int) error {
	group := make([]int, len(net.nodes))
	for i := range group {
		group[i] = -1
	}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(group) {
				return fmt.Errorf("testnet: no node %d", i)
			}
			if group[i] != -1 {
				return fmt.Errorf("testnet: node %d in two groups", i)
			}
			group[i] = g
		}
	}
	net.Heal()
	net.mu.Lock()
	for i := range group {
		for j := range group {
			if i != j && group[i] != group[j] {
				net.denied[[2]int{i, j}] = true
			}
		}
	}
	pairs := net.deniedPairsLocked()
	net.mu.Unlock()
	for _, p := range pairs {
		p.node.Deny(p.id)
	}
	net.poke()
	return nil
}

// Heal lifts the partition: every denied pair is undenied, and the nodes
// dial each other again.
func (net *Net) Heal() {
	net.mu.Lock()
	pairs := net.deniedPairsLocked()
	clear(net.denied)
	net.mu.Unlock()
	for _, p := range pairs {
		p.node.Undeny(p.id)
	}
	net.poke()
}

type nodePeer struct {
	node *mesh.Node
	id   peer.ID
}

func (net *Net) deniedPairsLocked() []nodePeer {
	var out []nodePeer
	for pair := range net.denied {
		if n := net.nodes[pair[0]]; n != nil && net.ids[pair[1]] != "" {
			out = append(out, nodePeer{n.Mesh(), net.ids[pair[1]]})
		}
	}
	return out
}

// Close stops every node and removes the data dirs it created.
func (net *Net) Close() error {
	net.mu.Lock()
	net.closed = true
	nodes := append([]*node.Node(nil), net.nodes...)
	cancels := append([]func(){}, net.cancel...)
	clear(net.nodes)
	net.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cancels[i] != nil {
				cancels[i]()
			}
			errs[i] = n.Close()
		}()
	}
	wg.Wait()
	if net.ownsDir {
		errs = append(errs, os.RemoveAll(net.dir))
	}
	return errors.Join(errs...)
}

func (net *Net) poke() {
	net.pokeMu.Lock()
	defer net.pokeMu.Unlock()
	for ch := range net.pokes {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitFor blocks until cond holds or ctx ends. cond is checked at once and
// again after every peer table change of any node and every fault
// injected; it runs on the caller's goroutine.
func (net *Net) WaitFor(ctx context.Context, cond func(*Net) bool) error {
	ch := make(chan struct{}, 1)
	net.pokeMu.Lock()
	net.pokes[ch] = struct{}{}
	net.pokeMu.Unlock()
	defer func() {
		net.pokeMu.Lock()
		delete(net.pokes, ch)
		net.pokeMu.Unlock()
	}()
	for {
		if cond(net) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: condition not met: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Sees reports whether node i (live) lists node j.
func (net *Net) Sees(i, j int) bool {
	n := net.Node(i)
	if n == nil {
		return false
	}
	_, ok := n.Peer(net.ID(j))
	return ok
}

// Converged holds when every live node lists exactly the other live nodes
// that are not partitioned away from it.
func (net *Net) Converged() bool {
	live := net.Live()
	for _, i := range live {
		n := net.Node(i)
		if n == nil {
			return false
		}
		want := 0
		for _, j := range live {
			if j == i || net.isDenied(i, j) {
				continue
			}
			want++
			if !net.Sees(i, j) {
				return false
			}
		}
		if len(n.Peers()) != want {
			return false
		}
	}
	return true
}

func (net *Net) isDenied(i, j int) bool {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.denied[[2]int{i, j}] || net.denied[[2]int{j, i}]
}

// Describe summarises who sees whom, for test failure messages.
func (net *Net) Describe() string {
	s := ""
	for i := range net.nodes {
		n := net.Node(i)
		if n == nil {
			s += fmt.Sprintf("node %d: killed\n", i)
			continue
		}
		s += fmt.Sprintf("node %d: lists %d peers, %d connections, %d presence topic peers\n", i,
			len(n.Peers()), len(n.Host().Network().Peers()), len(n.PubSub().ListPeers(n.Topic("presence"))))
	}
	return s
}
