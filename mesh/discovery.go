package mesh

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// startDiscovery sets up the private DHT and mDNS where the config asks for
// them. A DHT that cannot start is an error; mDNS, which a machine may not
// allow, is only a warning.
func (n *Node) startDiscovery() error {
	if n.cfg.DHT {
		var err error
		n.dht, err = dht.New(n.h,
			dht.Mode(dht.ModeServer),
			dht.ProtocolPrefix(protocol.ID("/shoal/"+n.meshID)),
			dht.BootstrapPeers(n.bootstrap...), // never the public IPFS bootstrap peers
			dht.DisableValues(),
		)
		if err != nil {
			return fmt.Errorf("mesh: dht: %w", err)
		}
	}
	if n.cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.h, "shoal-"+n.meshID, mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			n.log.Warn("mDNS discovery unavailable", "err", err)
			n.mdns = nil
		}
	}
	return nil
}

// bootstrapLoop dials every bootstrap peer at start, then again whenever
// the node has no connection at all, backing off up to maxBootstrapGap.
func (n *Node) bootstrapLoop() {
	defer n.wg.Done()
	if len(n.bootstrap) == 0 {
		return
	}
	delay := bootstrapRetry
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
				delay = bootstrapRetry
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
	delay := dhtFirstRound
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxDHTGap)
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

// mdnsNotifee dials the peers mDNS finds on the LAN.
type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.h.ID() || m.n.ctx.Err() != nil {
		return
	}
	m.n.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	m.n.dial(ai.ID, false)
}
