package mesh

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// pingLoop measures RTT to connected peers with libp2p ping, every
// pingHeartbeats heartbeats but at least minPingInterval apart.
func (n *Node) pingLoop() {
	defer n.wg.Done()
	every := max(pingHeartbeats*n.cfg.HeartbeatInterval, minPingInterval)
	t := time.NewTicker(every)
	defer t.Stop()
	var next int // where the round-robin over the listed peers goes on
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		peers := n.table.list()
		// At most maxPingsPerRound peers a round, round-robin: a mesh of
		// 100 would otherwise open 99 ping streams (and goroutines) per
		// peer at once, 9,900 across a testnet.
		k := min(len(peers), maxPingsPerRound)
		for j := range k {
			info := peers[(next+j)%len(peers)]
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
		if len(peers) > 0 {
			next = (next + k) % len(peers)
		}
	}
}

// maxPingsPerRound bounds the RTT pings of one pingLoop round: with
// pingHeartbeats 10, every peer of a mesh of up to 16 is measured each
// 10 s, of 100 each minute.
const maxPingsPerRound = 16
