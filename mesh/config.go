package mesh

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/pnet"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalmesh/shoal/engine/clip"
)

// Defaults and tuning of a node, in one place. The exported values fill a
// zero Config; the others are fixed, and each says why it has its value.
// Limits of the presence wire format live with it, in presence.go.
const (
	// DefaultHeartbeatInterval is how often presence is published: often
	// enough that a peer appears within a second, rare enough that an idle
	// mesh of a few dozen peers costs little.
	DefaultHeartbeatInterval = time.Second
	// DefaultPeerTimeout is how long a silent peer stays listed: five
	// heartbeats, so a few late or lost ones do not make it flap.
	DefaultPeerTimeout = 5 * time.Second
	// DefaultListen is the library default: loopback, any free port. The CLI
	// has its own fixed-port default; neither listens on all interfaces
	// unless told to.
	DefaultListen = "/ip4/127.0.0.1/tcp/0"
	// defaultVersion is announced by a build that was given no version.
	defaultVersion = "dev"

	// connLowWater and connHighWater bound the connection manager: well
	// above maxDirectPeers, so trimming never fights presence's own dials.
	connLowWater  = 160
	connHighWater = 192
	// perPeerInboundConns and perPeerInboundStreams bound what one peer
	// may open to this node (resourceLimits): the libp2p default for
	// connections (its dialer opens up to 8 at once), and streams far
	// above what a member uses.
	// perProtocolPeerInboundStreams is the libp2p default base for one
	// protocol of one peer (a shard fetch or an exchange is one stream).
	perPeerInboundConns           = 8
	perPeerInboundStreams         = 256
	perProtocolPeerInboundStreams = 64
	// connGracePeriod keeps a new connection from being trimmed before
	// its first heartbeats have had a chance to mark it useful.
	connGracePeriod = time.Minute

	// Gossip (IHAVE) is the mesh's repair path. Each heartbeat a node
	// gossips the ids of the last gossipHistory heartbeats' messages to
	// max(gossipDlazy, gossipFactor × non-mesh peers) peers; with every
	// peer publishing presence that is most of an idle mesh's traffic, so
	// it is trimmed from the GossipSub defaults (repair is still there, a
	// little slower).
	gossipDlazy   = 3
	gossipFactor  = 0.1
	gossipHistory = 2
	// maxMessageSize caps one GossipSub message: signalling only, bulk
	// bytes go on streams.
	maxMessageSize = 1 << 20
	// validateQueueSize and peerOutboundQueueSize replace GossipSub's
	// defaults (32), which drop messages silently under a burst, e.g.
	// twenty peers starting at once on a busy machine; presence lost that
	// way makes peers time out spuriously.
	validateQueueSize     = 1024
	peerOutboundQueueSize = 256

	// dialTimeout bounds one explicit dial (Connect, bootstrap).
	dialTimeout = 5 * time.Second
	// directDialTimeout bounds a background dial of a peer heard of
	// through presence or discovery: nobody waits on it, so it may take
	// longer than an explicit dial before giving up on a slow peer.
	directDialTimeout = 3 * dialTimeout
	// dialBackoff spaces background dials of one peer, which every
	// heartbeat of it would otherwise start again.
	dialBackoff = 2 * time.Second
	// maxRedialTimeout bounds the redial after a peer's last connection
	// closed (and at most PeerTimeout/2): a dead peer should go quickly.
	maxRedialTimeout = 2 * time.Second
	// maxDirectPeers: beyond this many connections, presence does not make
	// us dial; gossip reaches the rest. largeMeshDegree replaces it on a
	// mesh larger than cadenceFrom (directPeers): every connection costs
	// both ends a few goroutines, buffers and a share of every message
	// (measured at 100 peers in one process: a full mesh is 4,950
	// connections, which kept 2 cores busy), and GossipSub needs only its
	// degree (D = 6, at most 12) of them.
	maxDirectPeers  = 128
	largeMeshDegree = 12
	// maxFreshWindow caps freshWindow (heartbeat.go).
	maxFreshWindow = 500 * time.Millisecond

	// bootstrapRetry is the first wait between rounds of bootstrap dials,
	// and the wait again after a round that reached a peer.
	bootstrapRetry = 500 * time.Millisecond
	// maxBootstrapGap caps the doubling wait while no bootstrap peer
	// answers, so a node that was alone notices a peer within that long.
	maxBootstrapGap = 30 * time.Second
	// dhtFirstRound is the wait before the first DHT advertise and lookup,
	// leaving time for the bootstrap connections; maxDHTGap caps the
	// doubling wait between later rounds, which find little new.
	dhtFirstRound = 2 * time.Second
	maxDHTGap     = time.Minute

	// pingHeartbeats: RTT is measured every this many heartbeats, and at
	// least minPingInterval apart. Each ping opens a stream, and RTT
	// changes slowly.
	pingHeartbeats  = 10
	minPingInterval = 2 * time.Second

	// leavePublishTimeout bounds the last "leaving" heartbeat in Close:
	// it is a courtesy, and Close must stay quick whatever the network does.
	leavePublishTimeout = 200 * time.Millisecond

	// subscriberBuffer is each subscriber's channel capacity. Events are
	// sent without blocking; a subscriber that falls this far behind loses
	// events (counted in DroppedEvents) rather than stalling the node.
	subscriberBuffer = 256
	// tombSeqMargin is how far past the last seen heartbeat a removed
	// peer's heartbeat must be to bring the same incarnation back: a live
	// peer gets there within a few heartbeats, a replayed old one does not.
	tombSeqMargin = 3
	// tombTTL bounds how long tombstones are kept; replays are long over
	// by then.
	tombTTL = 10 * time.Minute

	// maxErrorLen caps a dial error condensed to one line, which ends up
	// in logs and in the TUI.
	maxErrorLen = 300
	// maxQuotedLen caps untrusted text quoted in an error.
	maxQuotedLen = 32
)

// PresenceExtra is what upper layers add to this node's heartbeats.
type PresenceExtra struct {
	Models []string
	Jobs   []string
	// Load, when > 0, replaces the system load average (1-minute load / cores).
	Load float64
	// Served lists the models this node answers queries for (see
	// ServedModel). Entries that would not pass DecodePresence are left
	// out, past 64 too, and the list is cut further when the heartbeat
	// would outgrow MaxPresenceSize.
	Served []ServedModel
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
	// Announce, when set, replaces the listen addresses this node tells
	// its peers (identify, heartbeats) — go-libp2p's AddrsFactory, what
	// IPFS calls Addresses.Announce: for a node reached through a port
	// forward, a NAT of the operator's own, or a proxy in front of it.
	Announce []string
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
	// Metrics, when set, receives the libp2p host's metrics (transports,
	// identify, resource manager...). It must be the node's own registry,
	// never the global one: many nodes share one process in testnet.
	// Nil: no host metrics.
	Metrics prometheus.Registerer
}

// fillDefaults fills the zero fields of cfg and refuses values a node
// cannot run with.
func fillDefaults(cfg *Config) error {
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{DefaultListen}
	}
	for _, s := range cfg.Announce {
		if err := checkListenAddr(s); err != nil {
			return fmt.Errorf("%w (in the announce addresses)", err)
		}
	}
	if cfg.Role == "" {
		cfg.Role = RoleFull
	}
	if cfg.Role != RoleFull && cfg.Role != RoleEdge {
		return fmt.Errorf("mesh: role %q, want %q or %q", cfg.Role, RoleFull, RoleEdge)
	}
	if cfg.Version == "" {
		cfg.Version = defaultVersion
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	// A long host name is shortened rather than refused, on a rune
	// boundary so that the result still passes the UTF-8 check below.
	cfg.Name = clip.String(cfg.Name, maxNameLen)
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
