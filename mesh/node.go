package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// Node is one running peer of a mesh. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	h      host.Host
	ps     *pubsub.PubSub
	dht    *dht.IpfsDHT
	mdns   mdns.Service
	meshID string
	gater  *gater
	scores *scoreKeeper
	echo   *echoFilter
	table  *peerTable
	boot   int64
	seq    atomic.Uint64

	bootstrap []peer.AddrInfo

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	topicsMu sync.Mutex
	topics   map[string]*pubsub.Topic
	presence *pubsub.Topic

	dialMu    sync.Mutex
	lastDial  map[peer.ID]time.Time
	laterDial map[peer.ID]struct{}

	// kick asks the heartbeat loop for an early heartbeat, so a peer that
	// just appeared hears of this node without waiting a full interval.
	kick chan struct{}
	// every is the heartbeat refresh interval in use (nanoseconds), for
	// HeartbeatEvery.
	every atomic.Int64

	lastExtraMu  sync.Mutex
	lastPresence Presence // the latest heartbeat built, for Self

	// spawnMu orders background goroutines started from callbacks (dials,
	// disconnect checks) against Close: none starts once closing is set,
	// so Close's wait cannot race with a late Add.
	spawnMu sync.Mutex
	closing bool

	closeOnce sync.Once
	closeErr  error
}

// spawn runs f in a goroutine that Close waits for, unless the node is
// closing; it reports whether f was started.
func (n *Node) spawn(f func()) bool {
	n.spawnMu.Lock()
	defer n.spawnMu.Unlock()
	if n.closing {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// Start builds the host, joins the mesh's presence topic, starts discovery
// and heartbeats, and returns. Bootstrap peers are dialled in the
// background: a node starts even when none is reachable, and logs
// "cannot reach peer … (wrong mesh key or peer unreachable)" until one is.
// ctx bounds start-up only; call Close to stop the node.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := fillDefaults(&cfg); err != nil {
		return nil, err
	}
	psk, err := meshKey(cfg)
	if err != nil {
		return nil, err
	}
	sk, err := nodeIdentity(cfg)
	if err != nil {
		return nil, err
	}
	var boots []peer.AddrInfo
	for _, s := range cfg.Bootstrap {
		ai, err := parsePeerAddr(s)
		if err != nil {
			return nil, err
		}
		boots = append(boots, *ai)
	}
	for _, s := range cfg.Listen {
		if err := checkListenAddr(s); err != nil {
			return nil, err
		}
	}

	g := newGater()
	h, err := newHost(cfg, psk, sk, g)
	if err != nil {
		return nil, err
	}

	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, log: cfg.Logger, h: h, meshID: MeshIDOf(psk), gater: g, scores: newScoreKeeper(cfg.Logger),
		echo: newEchoFilter(h.ID()),
		// A peer heard of only through gossip is listed once a second
		// heartbeat of it comes a quarter interval after the first.
		table: newPeerTable(cfg.HeartbeatInterval / 4), boot: time.Now().UnixNano(), bootstrap: boots,
		ctx: nctx, cancel: cancel, topics: map[string]*pubsub.Topic{},
		lastDial: map[peer.ID]time.Time{}, laterDial: map[peer.ID]struct{}{}, kick: make(chan struct{}, 1),
	}
	fail := func(err error) (*Node, error) {
		cancel()
		h.Close()
		return nil, err
	}
	n.ps, err = newGossipSub(nctx, h, n.Topic(presenceTopic), func(p peer.ID) bool { return !g.allowed(p) }, n.scores, n.echo)
	if err != nil {
		return fail(fmt.Errorf("mesh: gossipsub: %w", err))
	}
	sub, topicEvents, err := n.joinPresence()
	if err != nil {
		return fail(err)
	}
	h.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnect(c.RemotePeer()) },
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnect(c.RemotePeer()) },
	})
	if err := n.startDiscovery(); err != nil {
		return fail(err)
	}

	n.presenceNow(false) // so Self is filled in before the first heartbeat
	n.wg.Add(5)
	go n.readPresence(sub)
	go n.watchTopicPeers(topicEvents)
	go n.heartbeatLoop()
	go n.pingLoop()
	go n.bootstrapLoop()
	if n.dht != nil {
		n.wg.Add(1)
		go n.dhtLoop()
	}
	n.log.Info("mesh node started", "id", h.ID().String(), "mesh", n.meshID, "addrs", strings.Join(n.Addrs(), " "))
	return n, nil
}

// meshKey is the pre-shared key cfg names: PSK, else the file at KeyPath.
func meshKey(cfg Config) (pnet.PSK, error) {
	psk := cfg.PSK
	if psk == nil {
		if cfg.KeyPath == "" {
			return nil, errors.New("mesh: no mesh key (set Config.PSK or Config.KeyPath)")
		}
		var err error
		if psk, err = ReadKey(cfg.KeyPath); err != nil {
			return nil, err
		}
	}
	if len(psk) != 32 {
		return nil, fmt.Errorf("mesh: key is %d bytes, want 32", len(psk))
	}
	return psk, nil
}

// nodeIdentity is the node's private key: the one in DataDir, or a fresh
// one when there is no data dir.
func nodeIdentity(cfg Config) (crypto.PrivKey, error) {
	if cfg.DataDir != "" {
		sk, _, err := LoadOrCreateIdentity(cfg.DataDir)
		return sk, err
	}
	sk, _, err := crypto.GenerateEd25519Key(nil)
	return sk, err
}

// Close publishes a last "leaving" heartbeat, stops discovery and closes the
// host. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		p := n.presenceNow(true)
		if b, err := EncodePresence(p); err == nil {
			ctx, cancel := context.WithTimeout(n.ctx, leavePublishTimeout)
			_ = n.presence.Publish(ctx, b)
			cancel()
		}
		n.spawnMu.Lock()
		n.closing = true
		n.spawnMu.Unlock()
		n.cancel()
		if n.mdns != nil {
			n.mdns.Close()
		}
		var errs []error
		if n.dht != nil {
			errs = append(errs, n.dht.Close())
		}
		errs = append(errs, n.h.Close())
		n.wg.Wait()
		n.table.close()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// Host is the libp2p host, for stream protocols of upper layers.
func (n *Node) Host() host.Host { return n.h }

// PubSub is the node's GossipSub router. Join topics through JoinTopic so
// that each has a validator.
func (n *Node) PubSub() *pubsub.PubSub { return n.ps }

// DHT is the private DHT, or nil when Config.DHT was off.
func (n *Node) DHT() *dht.IpfsDHT { return n.dht }

// MeshID is the short hash of the mesh key that names topics and protocols.
func (n *Node) MeshID() string { return n.meshID }

// ID is this node's peer id.
func (n *Node) ID() peer.ID { return n.h.ID() }

// Addrs are this node's full addresses, /ip4/…/tcp/…/p2p/<id>, ready to
// pass as a bootstrap address.
func (n *Node) Addrs() []string {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// DataPath joins a data-dir relative path; a helper for upper layers that
// keep files beside the identity.
func (n *Node) DataPath(elem ...string) string {
	if n.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(append([]string{n.cfg.DataDir}, elem...)...)
}
