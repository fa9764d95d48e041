package mesh

import (
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/pnet"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ws "github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
)

// resourceLimits are the resource manager's limits: go-libp2p's defaults
// scaled to this machine, except what one peer may hold, which is fixed
// (the defaults grow it with memory: 256 + 128 inbound streams per GiB,
// and 64 + 4 per GiB on each protocol).
// A member of the mesh needs a handful of streams at once (gossip,
// identify, ping, a few shard fetches and parameter exchanges), so one
// that opens thousands is refused past perPeerInboundStreams, and one that
// opens many connections past perPeerInboundConns (issue 16's exhaustion
// scenario: testnet/fault TestSoakExhaustion).
func resourceLimits() rcmgr.ConcreteLimitConfig {
	cfg := rcmgr.DefaultLimits
	cfg.PeerBaseLimit.ConnsInbound = perPeerInboundConns
	cfg.PeerBaseLimit.StreamsInbound = perPeerInboundStreams
	cfg.PeerBaseLimit.Streams = 2 * perPeerInboundStreams
	cfg.PeerLimitIncrease.StreamsInbound = 0
	cfg.PeerLimitIncrease.StreamsOutbound = 0
	cfg.PeerLimitIncrease.Streams = 0
	cfg.ProtocolPeerBaseLimit.StreamsInbound = perProtocolPeerInboundStreams
	cfg.ProtocolPeerLimitIncrease.StreamsInbound = 0
	cfg.ProtocolPeerLimitIncrease.StreamsOutbound = 0
	cfg.ProtocolPeerLimitIncrease.Streams = 0
	return cfg.AutoScale()
}

// newHost builds the libp2p host of a node: identity sk on the private
// network psk, TCP and WebSocket only, with g deciding per peer. On error
// nothing is left open.
func newHost(cfg Config, psk pnet.PSK, sk crypto.PrivKey, g *gater) (host.Host, error) {
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits()))
	if err != nil {
		return nil, fmt.Errorf("mesh: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(connLowWater, connHighWater, connmgr.WithGracePeriod(connGracePeriod))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("mesh: connection manager: %w", err)
	}
	// Many hosts live in one process (testnet): the global Prometheus
	// registry would panic on the second one, so metrics go only to a
	// registry the caller owns.
	metrics := libp2p.DisableMetrics()
	if cfg.Metrics != nil {
		metrics = libp2p.PrometheusRegisterer(cfg.Metrics)
	}
	addrs := func(listen []ma.Multiaddr) []ma.Multiaddr { return listen }
	if len(cfg.Announce) > 0 {
		announce := make([]ma.Multiaddr, 0, len(cfg.Announce))
		for _, s := range cfg.Announce {
			a, err := ma.NewMultiaddr(s) // checked by fillDefaults
			if err != nil {
				return nil, fmt.Errorf("mesh: announce address %q: %w", s, err)
			}
			announce = append(announce, a)
		}
		addrs = func([]ma.Multiaddr) []ma.Multiaddr { return announce }
	}
	h, err := libp2p.New(
		libp2p.Identity(sk),
		libp2p.PrivateNetwork(psk),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.AddrsFactory(addrs),
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
		metrics,
		libp2p.DisableRelay(),
		libp2p.Ping(true),
		libp2p.UserAgent("shoal/"+cfg.Version),
	)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("mesh: cannot start host on %s: %w", strings.Join(cfg.Listen, ", "), err)
	}
	return h, nil
}
