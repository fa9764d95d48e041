package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/modelserver"
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
	// At most startParallel nodes start at once: starting is CPU work (keys,
	// listeners, the first handshakes with node 0), so more at once only
	// piles half-done handshakes onto node 0 (measured: 99 at once on 2
	// cores left node 0's transient connection limit full and peers whose
	// GossipSub stream to it never opened).
	sem := make(chan struct{}, startParallel())
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
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

// startParallel is how many nodes Start starts at once: 4 per core, at
// least 8.
func startParallel() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

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
	nc := node.Config{Mesh: mc, Jobs: jc, API: serve.ControlConfig{Addr: api},
		Serve: modelserver.Config{Addr: DefaultAPIAddr}, Logger: logger}
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
