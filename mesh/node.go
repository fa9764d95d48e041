package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ws "github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pbnjay/memory"
)

// Defaults, in one place.
const (
	DefaultHeartbeatInterval = time.Second
	DefaultPeerTimeout       = 5 * time.Second
	// DefaultListen is the library default: loopback, any free port. The CLI
	// has its own fixed-port default; neither listens on all interfaces
	// unless told to.
	DefaultListen = "/ip4/127.0.0.1/tcp/0"

	presenceTopic   = "presence"
	dialTimeout     = 5 * time.Second
	dialBackoff     = 2 * time.Second
	maxBootstrapGap = 30 * time.Second
	maxDirectPeers  = 128 // beyond this, presence does not make us dial
)

// PresenceExtra is what upper layers add to this node's heartbeats.
type PresenceExtra struct {
	Models []string
	Jobs   []string
	// Load, when > 0, replaces the system load average (1-minute load / cores).
	Load float64
}

// Config configures a node. The zero value, plus a PSK or KeyPath, is a
// loopback node with an ephemeral identity and no discovery beyond
// Bootstrap and presence.
type Config struct {
	// DataDir holds the identity (identity.key, 0600). Empty: an ephemeral
	// identity, new on every start.
	DataDir string
	// KeyPath is the swarm.key file; PSK, when set, wins over it.
	KeyPath string
	PSK     pnet.PSK
	// Listen multiaddrs, TCP or WebSocket only (a pre-shared key rules out
	// QUIC, WebTransport and WebRTC). Default: DefaultListen.
	Listen []string
	// Bootstrap multiaddrs with /p2p/<id>, dialled at start and whenever the
	// node finds itself with no connection.
	Bootstrap []string
	Name      string // default: host name
	Role      string // RoleFull (default) or RoleEdge
	Version   string // default: "dev"
	MDNS      bool   // LAN discovery; keep off in tests
	DHT       bool   // private Kademlia DHT under /shoal/<meshid>
	// HeartbeatInterval is how often presence is published; PeerTimeout how
	// long a silent peer stays in the table.
	HeartbeatInterval time.Duration
	PeerTimeout       time.Duration
	Logger            *slog.Logger
	// PresenceExtra is called once per heartbeat, from the heartbeat
	// goroutine; it must not block and must not call back into the node
	// while holding locks the node might need.
	PresenceExtra func() PresenceExtra
}

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
	var sk crypto.PrivKey
	if cfg.DataDir != "" {
		var err error
		if sk, _, err = LoadOrCreateIdentity(cfg.DataDir); err != nil {
			return nil, err
		}
	} else {
		var err error
		if sk, _, err = crypto.GenerateEd25519Key(nil); err != nil {
			return nil, err
		}
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
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.DefaultLimits.AutoScale()))
	if err != nil {
		return nil, fmt.Errorf("mesh: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(160, 192, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("mesh: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(sk),
		libp2p.PrivateNetwork(psk),
		libp2p.ListenAddrStrings(cfg.Listen...),
		// No SO_REUSEPORT: with it every outbound connection leaves from the
		// listen port, and two peers that dial each other at the same moment
		// (as presence makes them do) collide on one 4-tuple; measured here,
		// that stalled a 20-peer mesh for seconds.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(ws.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater(g),
		libp2p.ConnectionManager(cm),
		// Many hosts live in one process (testnet): the global Prometheus
		// registry would panic on the second one.
		libp2p.DisableMetrics(),
		libp2p.DisableRelay(),
		libp2p.Ping(true),
		libp2p.UserAgent("shoal/"+cfg.Version),
	)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("mesh: cannot start host on %s: %w", strings.Join(cfg.Listen, ", "), err)
	}

	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg: cfg, log: cfg.Logger, h: h, meshID: MeshIDOf(psk), gater: g,
		table: newPeerTable(cfg.HeartbeatInterval / 4), boot: time.Now().UnixNano(), bootstrap: boots,
		ctx: nctx, cancel: cancel, topics: map[string]*pubsub.Topic{},
		lastDial: map[peer.ID]time.Time{}, laterDial: map[peer.ID]struct{}{}, kick: make(chan struct{}, 1),
	}
	fail := func(err error) (*Node, error) {
		cancel()
		h.Close()
		return nil, err
	}
	// Gossip (IHAVE) is the mesh's repair path. Each heartbeat a node
	// gossips the ids of the last HistoryGossip heartbeats' messages to
	// max(Dlazy, GossipFactor × non-mesh peers) peers; with every peer
	// publishing presence that is most of an idle mesh's traffic, so it is
	// trimmed (repair is still there, a little slower).
	gsp := pubsub.DefaultGossipSubParams()
	gsp.Dlazy = 3
	gsp.GossipFactor = 0.1
	gsp.HistoryGossip = 2
	n.ps, err = pubsub.NewGossipSub(nctx, h,
		pubsub.WithGossipSubParams(gsp),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerExchange(true),
		// Flood publishing (the default) sends our own messages to every
		// connected topic peer, not just the mesh: a node that just joined
		// has no mesh yet, and its first heartbeat must still reach its
		// bootstrap peer at once. Measured: turning it off saved ~20% CPU
		// but delayed a restarted peer's return past 3 s.
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(1<<20),
		// The defaults (32) drop messages silently under a burst, e.g.
		// twenty peers starting at once on a busy machine; presence lost
		// that way makes peers time out spuriously.
		pubsub.WithValidateQueueSize(1024),
		pubsub.WithPeerOutboundQueueSize(256),
	)
	if err != nil {
		return fail(fmt.Errorf("mesh: gossipsub: %w", err))
	}
	if err := n.ps.RegisterTopicValidator(n.Topic(presenceTopic), n.validatePresence); err != nil {
		return fail(err)
	}
	n.presence, err = n.ps.Join(n.Topic(presenceTopic))
	if err != nil {
		return fail(err)
	}
	sub, err := n.presence.Subscribe()
	if err != nil {
		return fail(err)
	}
	topicEvents, err := n.presence.EventHandler()
	if err != nil {
		return fail(err)
	}
	h.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnect(c.RemotePeer()) },
		ConnectedF: func(_ network.Network, c network.Conn) {
			if id := c.RemotePeer(); n.table.promote(id, time.Now()) {
				n.log.Info("peer joined", "peer", id.String())
				n.kickHeartbeat()
			}
		},
	})

	if cfg.DHT {
		n.dht, err = dht.New(h,
			dht.Mode(dht.ModeServer),
			dht.ProtocolPrefix(protocol.ID("/shoal/"+n.meshID)),
			dht.BootstrapPeers(boots...), // never the public IPFS bootstrap peers
			dht.DisableValues(),
		)
		if err != nil {
			return fail(fmt.Errorf("mesh: dht: %w", err))
		}
	}
	if cfg.MDNS {
		n.mdns = mdns.NewMdnsService(h, "shoal-"+n.meshID, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.log.Warn("mDNS discovery unavailable", "err", err)
			n.mdns = nil
		}
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

func fillDefaults(cfg *Config) error {
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{DefaultListen}
	}
	if cfg.Role == "" {
		cfg.Role = RoleFull
	}
	if cfg.Role != RoleFull && cfg.Role != RoleEdge {
		return fmt.Errorf("mesh: role %q, want %q or %q", cfg.Role, RoleFull, RoleEdge)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	if len(cfg.Name) > maxNameLen {
		cfg.Name = cfg.Name[:maxNameLen]
	}
	if err := checkText("name", cfg.Name, maxNameLen); err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	if err := checkText("version", cfg.Version, maxVersionLen); err != nil {
		return fmt.Errorf("mesh: %w", err)
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = DefaultPeerTimeout
	}
	if cfg.PeerTimeout < 2*cfg.HeartbeatInterval {
		return fmt.Errorf("mesh: peer timeout %v must be at least two heartbeats (%v)", cfg.PeerTimeout, 2*cfg.HeartbeatInterval)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkListenAddr refuses transports that cannot run under a pre-shared key,
// with a message that says so instead of libp2p's.
func checkListenAddr(s string) error {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return fmt.Errorf("mesh: bad listen address %q: %v", s, err)
	}
	for _, p := range a.Protocols() {
		switch p.Code {
		case ma.P_QUIC, ma.P_QUIC_V1, ma.P_UDP, ma.P_WEBTRANSPORT, ma.P_WEBRTC_DIRECT, ma.P_WEBRTC:
			return fmt.Errorf("mesh: listen address %q: only TCP and WebSocket work on a private mesh (pre-shared key)", s)
		}
	}
	return nil
}

// parsePeerAddr parses a full peer address (/ip4/…/tcp/…/p2p/<id>).
func parsePeerAddr(s string) (*peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(s)
	if err != nil {
		return nil, fmt.Errorf("bad peer address %q (want /ip4/…/tcp/…/p2p/<peer id>): %v", s, err)
	}
	return ai, nil
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

// Topic is the full GossipSub topic for name: "/shoal/<meshid>/<name>".
func (n *Node) Topic(name string) string { return "/shoal/" + n.meshID + "/" + name }

// Protocol is a stream protocol id under this mesh:
// "/shoal/<meshid>/<name>", e.g. Protocol("shard/1.0.0").
func (n *Node) Protocol(name string) protocol.ID {
	return protocol.ID("/shoal/" + n.meshID + "/" + name)
}

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

// JoinTopic joins n.Topic(name) with validate as its validator. validate is
// called with the message's signed origin (not the relaying peer) and its
// data; an error rejects the message. Messages whose origin is denied (or
// outside the allow-list) are dropped before validate runs. validate may be
// called concurrently and must not block for long. A topic can be joined
// once per node.
func (n *Node) JoinTopic(name string, validate func(peer.ID, []byte) error) (*pubsub.Topic, error) {
	if validate == nil {
		return nil, fmt.Errorf("mesh: topic %q: a validator is required", name)
	}
	if name == "" || name == presenceTopic || strings.ContainsAny(name, " \n") {
		return nil, fmt.Errorf("mesh: topic name %q not allowed", name)
	}
	full := n.Topic(name)
	n.topicsMu.Lock()
	defer n.topicsMu.Unlock()
	if _, ok := n.topics[full]; ok {
		return nil, fmt.Errorf("mesh: topic %q already joined", name)
	}
	v := func(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		origin := m.GetFrom()
		if !n.gater.allowed(origin) {
			return pubsub.ValidationIgnore
		}
		if err := validate(origin, m.Data); err != nil {
			n.log.Debug("message rejected", "topic", name, "from", origin.String(), "err", err)
			return pubsub.ValidationReject
		}
		return pubsub.ValidationAccept
	}
	if err := n.ps.RegisterTopicValidator(full, v); err != nil {
		return nil, err
	}
	t, err := n.ps.Join(full)
	if err != nil {
		_ = n.ps.UnregisterTopicValidator(full)
		return nil, err
	}
	n.topics[full] = t
	return t, nil
}

// Self is this node as its peers see it: the content of its latest
// heartbeat (Models, Jobs and Load as of then), with current addresses.
// LastSeen is zero (it means nothing for the node itself) and RTT 0.
func (n *Node) Self() PeerInfo {
	n.lastExtraMu.Lock()
	p := n.lastPresence
	n.lastExtraMu.Unlock()
	return PeerInfo{
		ID: n.h.ID().String(), Name: p.Name, Role: p.Role, Version: p.Version,
		Cores: p.Cores, MemBytes: p.Mem, Load: p.Load, Models: p.Models, Jobs: p.Jobs,
		Addrs: n.Addrs(), Alive: true,
	}
}

// Peers lists the live peers, excluding this node, sorted by id. The slice
// and its contents are copies.
func (n *Node) Peers() []PeerInfo { return n.table.list() }

// Peer returns one live peer.
func (n *Node) Peer(id peer.ID) (PeerInfo, bool) { return n.table.get(id) }

// Subscribe delivers peer_joined / peer_left events from now on. The channel
// is buffered (256); the node never blocks on it, so a subscriber that
// falls behind loses events (see DroppedEvents) and should resync with
// Peers. cancel closes the channel; Close closes all of them.
func (n *Node) Subscribe() (events <-chan Event, cancel func()) { return n.table.subscribe() }

// DroppedEvents counts events lost to slow subscribers.
func (n *Node) DroppedEvents() uint64 { return n.table.dropped.Load() }

// Deny refuses id from now on: its connections are closed, dials either way
// are refused by the gater, its gossip is ignored and it leaves the peer
// table.
func (n *Node) Deny(id peer.ID) {
	if id == n.h.ID() {
		return
	}
	n.gater.mu.Lock()
	n.gater.deny[id] = struct{}{}
	n.gater.mu.Unlock()
	_ = n.h.Network().ClosePeer(id)
	n.table.remove(id, "denied", time.Now())
}

// Undeny lifts Deny and dials id again if its address is known.
func (n *Node) Undeny(id peer.ID) {
	n.gater.mu.Lock()
	delete(n.gater.deny, id)
	n.gater.mu.Unlock()
	n.table.forget(id)
	if n.gater.allowed(id) && len(n.h.Peerstore().Addrs(id)) > 0 {
		n.dial(id, true)
	}
}

// SetAllowList admits only the listed peers (the deny list still applies).
// nil lifts the allow-list; an empty non-nil slice admits nobody. Peers
// outside the list are disconnected and leave the peer table.
func (n *Node) SetAllowList(ids []peer.ID) {
	n.gater.mu.Lock()
	if ids == nil {
		n.gater.allow = nil
	} else {
		n.gater.allow = make(map[peer.ID]struct{}, len(ids))
		for _, id := range ids {
			n.gater.allow[id] = struct{}{}
		}
	}
	n.gater.mu.Unlock()
	for _, id := range ids {
		n.table.forget(id)
	}
	now := time.Now()
	for _, p := range n.h.Network().Peers() {
		if !n.gater.allowed(p) {
			_ = n.h.Network().ClosePeer(p)
		}
	}
	for _, info := range n.table.list() {
		if id, err := peer.Decode(info.ID); err == nil && !n.gater.allowed(id) {
			n.table.remove(id, "denied", now)
		}
	}
}

// Connect dials a full peer address (/ip4/…/tcp/…/p2p/<id>). Its error
// says "cannot reach peer … (wrong mesh key or peer unreachable)": under a
// pre-shared key the two cases look the same from the dialling side.
func (n *Node) Connect(ctx context.Context, addr string) (peer.ID, error) {
	ai, err := parsePeerAddr(addr)
	if err != nil {
		return "", err
	}
	return ai.ID, n.connect(ctx, *ai)
}

func (n *Node) connect(ctx context.Context, ai peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := n.h.Connect(ctx, ai); err != nil {
		return &ReachError{Peer: ai.ID, Addrs: ai.Addrs, Err: err}
	}
	return nil
}

// ReachError is a failed dial. Under a pre-shared key a peer with another
// key and a peer that is not there fail alike, so the message names both.
type ReachError struct {
	Peer  peer.ID
	Addrs []ma.Multiaddr
	Err   error
}

func (e *ReachError) Error() string {
	where := ""
	if len(e.Addrs) > 0 {
		where = " at " + e.Addrs[0].String()
	}
	return fmt.Sprintf("cannot reach peer %s%s (wrong mesh key or peer unreachable): %s", e.Peer, where, oneLine(e.Err))
}

func (e *ReachError) Unwrap() error { return e.Err }

// oneLine condenses libp2p's multi-line dial errors to their first cause.
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		rest := strings.TrimSpace(s[i+1:])
		s = strings.TrimSpace(s[:i])
		if rest != "" {
			if j := strings.IndexByte(rest, '\n'); j >= 0 {
				rest = rest[:j]
			}
			s += " " + strings.TrimPrefix(rest, "* ")
		}
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Close publishes a last "leaving" heartbeat, stops discovery and closes the
// host. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		p := n.presenceNow(true)
		if b, err := EncodePresence(p); err == nil {
			ctx, cancel := context.WithTimeout(n.ctx, 200*time.Millisecond)
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

// presenceNow builds this node's heartbeat.
func (n *Node) presenceNow(leaving bool) Presence {
	p := Presence{
		V: PresenceVersion, Name: n.cfg.Name, Role: n.cfg.Role, Version: n.cfg.Version,
		Cores: runtime.NumCPU(), Mem: memory.TotalMemory(), Load: systemLoad(),
		Boot: n.boot, Seq: n.seq.Add(1), Leaving: leaving,
	}
	if n.cfg.PresenceExtra != nil {
		x := n.cfg.PresenceExtra()
		p.Models = trimList(x.Models)
		p.Jobs = trimList(x.Jobs)
		if x.Load > 0 && x.Load <= 1e6 {
			p.Load = x.Load
		}
	}
	n.lastExtraMu.Lock()
	n.lastPresence = p
	n.lastExtraMu.Unlock()
	for _, a := range n.h.Addrs() {
		if len(p.Addrs) == maxPresenceAddrs {
			break
		}
		if s := a.String(); len(s) <= maxAddrLen {
			p.Addrs = append(p.Addrs, s)
		}
	}
	return p
}

// trimList keeps what fits in a presence message; upper layers with more
// models or jobs than that must announce them on their own topics.
func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if len(out) == maxListLen {
			break
		}
		if s != "" && checkText("", s, maxItemLen) == nil {
			out = append(out, s)
		}
	}
	return out
}

// systemLoad is the 1-minute load average per core, 0 where unknown.
func systemLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 || v > 1e5 {
		return 0
	}
	return v / float64(runtime.NumCPU())
}

func (n *Node) validatePresence(_ context.Context, _ peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	origin := m.GetFrom()
	if !n.gater.allowed(origin) {
		return pubsub.ValidationIgnore
	}
	p, err := DecodePresence(m.Data)
	if err != nil {
		n.log.Debug("presence rejected", "from", origin.String(), "err", err)
		return pubsub.ValidationReject
	}
	m.ValidatorData = p
	return pubsub.ValidationAccept
}

func (n *Node) readPresence(sub *pubsub.Subscription) {
	defer n.wg.Done()
	defer sub.Cancel()
	for {
		m, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		origin := m.GetFrom()
		if origin == n.h.ID() {
			continue
		}
		p, ok := m.ValidatorData.(Presence)
		if !ok {
			continue
		}
		n.handlePresence(origin, p)
	}
}

// watchTopicPeers asks for an early heartbeat whenever a peer joins the
// presence topic (a new connection whose subscriptions just arrived), so
// that it learns of this node at once instead of up to one interval later.
func (n *Node) watchTopicPeers(h *pubsub.TopicEventHandler) {
	defer n.wg.Done()
	defer h.Cancel()
	for {
		ev, err := h.NextPeerEvent(n.ctx)
		if err != nil {
			return
		}
		if ev.Type == pubsub.PeerJoin {
			n.kickHeartbeat()
		}
	}
}

func (n *Node) kickHeartbeat() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *Node) handlePresence(id peer.ID, p Presence) {
	now := time.Now()
	if p.Leaving {
		if n.table.leave(id, p.Boot, now) {
			n.log.Info("peer left", "peer", id.String(), "name", p.Name, "reason", "leaving")
		}
		return
	}
	connected := n.h.Network().Connectedness(id) == network.Connected
	if n.table.update(id, p, now, connected) {
		n.log.Info("peer joined", "peer", id.String(), "name", p.Name, "role", p.Role)
		n.kickHeartbeat()
	}
	if connected {
		return
	}
	// Dial peers learned from gossip directly: a small mesh that leans on
	// one bootstrap peer hears of everybody much later (DESIGN, Known traps).
	var addrs []ma.Multiaddr
	for _, s := range p.Addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) > 0 {
		n.h.Peerstore().AddAddrs(id, addrs, peerstore.TempAddrTTL)
	}
	if len(n.h.Network().Peers()) >= maxDirectPeers {
		return
	}
	// Both peers usually learn of each other at the same moment; if both
	// dialled, every pair would pay for two handshakes. The lower id dials
	// now, the higher one only if no connection has appeared a heartbeat
	// later (the lower one may be unable to reach it).
	if n.h.ID() < id {
		n.dial(id, false)
		return
	}
	n.dialLater(id)
}

// dialLater dials id after one heartbeat unless a connection exists by then.
func (n *Node) dialLater(id peer.ID) {
	n.dialMu.Lock()
	if _, pending := n.laterDial[id]; pending {
		n.dialMu.Unlock()
		return
	}
	n.laterDial[id] = struct{}{}
	n.dialMu.Unlock()
	started := n.spawn(func() {
		defer func() {
			n.dialMu.Lock()
			delete(n.laterDial, id)
			n.dialMu.Unlock()
		}()
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(n.cfg.HeartbeatInterval):
		}
		if n.h.Network().Connectedness(id) != network.Connected && n.table.has(id) {
			n.dial(id, false)
		}
	})
	if !started {
		n.dialMu.Lock()
		delete(n.laterDial, id)
		n.dialMu.Unlock()
	}
}

// dial connects to id in the background, at most once per dialBackoff
// unless force is set.
func (n *Node) dial(id peer.ID, force bool) {
	if id == n.h.ID() || !n.gater.allowed(id) || n.ctx.Err() != nil {
		return
	}
	n.dialMu.Lock()
	if !force && time.Since(n.lastDial[id]) < dialBackoff {
		n.dialMu.Unlock()
		return
	}
	n.lastDial[id] = time.Now()
	n.dialMu.Unlock()
	n.spawn(func() {
		ctx, cancel := context.WithTimeout(n.ctx, 3*dialTimeout)
		defer cancel()
		if err := n.h.Connect(ctx, peer.AddrInfo{ID: id}); err != nil && n.ctx.Err() == nil {
			n.log.Debug("direct dial failed", "peer", id.String(), "err", oneLine(err))
		}
	})
}

// onDisconnect runs when a connection closes. When it was the last one to a
// peer in the table, the peer is dialled once more; if that fails, the peer
// is dropped now rather than after PeerTimeout. A live peer that is merely
// unreachable from here comes back with its next heartbeat.
func (n *Node) onDisconnect(id peer.ID) {
	if n.ctx.Err() != nil || !n.table.has(id) {
		return
	}
	n.spawn(func() {
		if n.h.Network().Connectedness(id) == network.Connected {
			return
		}
		ctx, cancel := context.WithTimeout(n.ctx, min(2*time.Second, n.cfg.PeerTimeout/2))
		defer cancel()
		err := n.h.Connect(ctx, peer.AddrInfo{ID: id})
		if err == nil || n.ctx.Err() != nil {
			return
		}
		if n.table.remove(id, "disconnected", time.Now()) {
			n.log.Info("peer left", "peer", id.String(), "reason", "disconnected")
		}
	})
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	// Early heartbeats (kicks) are spaced at least this far apart, so a
	// burst of joins costs a few messages, not one per join.
	minGap := n.cfg.HeartbeatInterval / 2
	var last time.Time
	for {
		last = time.Now()
		p := n.presenceNow(false)
		if b, err := EncodePresence(p); err != nil {
			n.log.Error("cannot encode presence", "err", err)
		} else if err := n.presence.Publish(n.ctx, b); err != nil && n.ctx.Err() == nil {
			n.log.Debug("presence publish failed", "err", err)
		}
		now := time.Now()
		// A peer still directly connected gets twice the timeout: on a
		// starved machine heartbeats arrive late, and dropping a peer whose
		// connection is fine only makes it flap. A dead one loses the
		// connection and goes at once (onDisconnect).
		connected := map[peer.ID]bool{}
		for _, p := range n.h.Network().Peers() {
			connected[p] = true
		}
		for _, ev := range n.table.expire(now.Add(-n.cfg.PeerTimeout), now.Add(-2*n.cfg.PeerTimeout), connected, now) {
			n.log.Info("peer left", "peer", ev.Peer.ID, "name", ev.Peer.Name, "reason", "timeout")
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
			if wait := minGap - time.Since(last); wait > 0 {
				select {
				case <-n.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

// pingLoop measures RTT to connected peers with libp2p ping.
func (n *Node) pingLoop() {
	defer n.wg.Done()
	// Each ping opens a stream; RTT changes slowly, so every ten
	// heartbeats is enough.
	every := max(10*n.cfg.HeartbeatInterval, 2*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, info := range n.table.list() {
			id, err := peer.Decode(info.ID)
			if err != nil || n.h.Network().Connectedness(id) != network.Connected {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(n.ctx, every)
				defer cancel()
				if r, ok := <-ping.Ping(ctx, n.h, id); ok && r.Error == nil {
					n.table.setRTT(id, r.RTT)
				}
			}()
		}
		wg.Wait()
	}
}

// bootstrapLoop dials every bootstrap peer at start, then again whenever
// the node has no connection at all, backing off up to maxBootstrapGap.
func (n *Node) bootstrapLoop() {
	defer n.wg.Done()
	if len(n.bootstrap) == 0 {
		return
	}
	delay := 500 * time.Millisecond
	first := true
	for {
		if first || len(n.h.Network().Peers()) == 0 {
			first = false
			var wg sync.WaitGroup
			var ok atomic.Bool
			for _, ai := range n.bootstrap {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := n.connect(n.ctx, ai); err != nil {
						if n.ctx.Err() == nil {
							n.log.Warn(err.Error())
						}
						return
					}
					ok.Store(true)
				}()
			}
			wg.Wait()
			if ok.Load() {
				delay = 500 * time.Millisecond
			} else {
				delay = min(2*delay, maxBootstrapGap)
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// dhtLoop advertises this node under the mesh's rendezvous name in the
// private DHT and dials what it finds.
func (n *Node) dhtLoop() {
	defer n.wg.Done()
	if err := n.dht.Bootstrap(n.ctx); err != nil {
		n.log.Debug("dht bootstrap", "err", err)
	}
	rd := drouting.NewRoutingDiscovery(n.dht)
	ns := "shoal/" + n.meshID
	delay := 2 * time.Second
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Minute)
		if _, err := rd.Advertise(n.ctx, ns); err != nil {
			n.log.Debug("dht advertise", "err", err)
			continue
		}
		ch, err := rd.FindPeers(n.ctx, ns)
		if err != nil {
			continue
		}
		for ai := range ch {
			if ai.ID == n.h.ID() || n.h.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			n.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
			n.dial(ai.ID, false)
		}
	}
}

type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.h.ID() || m.n.ctx.Err() != nil {
		return
	}
	m.n.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	m.n.dial(ai.ID, false)
}

// DataPath joins a data-dir relative path; a helper for upper layers that
// keep files beside the identity.
func (n *Node) DataPath(elem ...string) string {
	if n.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(append([]string{n.cfg.DataDir}, elem...)...)
}
