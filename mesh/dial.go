package mesh

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalmesh/shoal/engine/clip"
)

// parsePeerAddr parses a full peer address (/ip4/…/tcp/…/p2p/<id>).
func parsePeerAddr(s string) (*peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(s)
	if err != nil {
		return nil, fmt.Errorf("bad peer address %q (want /ip4/…/tcp/…/p2p/<peer id>): %v", s, err)
	}
	return ai, nil
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
	if len(s) > maxErrorLen {
		s = clip.String(s, maxErrorLen) + "…"
	}
	return s
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
		ctx, cancel := context.WithTimeout(n.ctx, directDialTimeout)
		defer cancel()
		if err := n.h.Connect(ctx, peer.AddrInfo{ID: id}); err != nil && n.ctx.Err() == nil {
			n.log.Debug("direct dial failed", "peer", id.String(), "err", oneLine(err))
		}
	})
}

// onConnect lists a peer heard of only through gossip so far, now that a
// direct connection shows it is there.
func (n *Node) onConnect(id peer.ID) {
	if n.table.promote(id, time.Now()) {
		n.log.Info("peer joined", "peer", id.String())
		n.kickHeartbeat()
	}
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
		ctx, cancel := context.WithTimeout(n.ctx, min(maxRedialTimeout, n.cfg.PeerTimeout/2))
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
