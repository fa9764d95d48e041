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
