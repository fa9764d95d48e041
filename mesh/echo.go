package mesh

import (
	"bytes"
	"sync/atomic"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// echoFilter drops, before GossipSub reads them, the messages that come
// back to the peer that signed them: the restart echo (issue 16).
//
// A peer restarted with its identity has an empty seen-cache, so when the
// others gossip (IHAVE) the ids of its last messages from before the
// restart, still in their caches, it asks for them (IWANT) and gets them.
// GossipSub then rejects each one as "self originated" (RejectSelfOrigin)
// and counts it as an invalid message of the peer that answered its own
// request: 4-6 from every peer during a job, enough to graylist the whole
// mesh and drop every peer a timeout later. Honest routers never push a
// message to its origin, so a message signed by us and received from
// someone else is either that echo or a replay; neither carries anything
// new, neither is the sender's fault in the first case, and dropping it
// unread (no penalty, no delivery) is what the restarted peer should do.
// A replay of our messages by an attacker therefore costs it nothing,
// which is no loss: the same message from anyone else would be a
// duplicate.
type echoFilter struct {
	self    []byte
	dropped atomic.Int64
}

func newEchoFilter(self peer.ID) *echoFilter { return &echoFilter{self: []byte(self)} }

// inspect is a pubsub.WithAppSpecificRpcInspector hook. It runs in the
// router's event loop on each RPC as decoded from one stream, which the
// router owns alone, so the published messages can be filtered in place.
func (f *echoFilter) inspect(_ peer.ID, rpc *pubsub.RPC) error {
	pub := rpc.Publish
	kept := pub[:0]
	for _, m := range pub {
		if bytes.Equal(m.GetFrom(), f.self) {
			f.dropped.Add(1)
			continue
		}
		kept = append(kept, m)
	}
	clear(pub[len(kept):])
	rpc.Publish = kept
	return nil
}

// SelfEchoes is how many of its own messages, sent back by others (the
// restart echo, see echoFilter), the node has dropped unread.
func (n *Node) SelfEchoes() int64 { return n.echo.dropped.Load() }
