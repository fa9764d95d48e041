package mesh

import (
	"strings"
	"sync/atomic"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// echoFilter keeps a peer from getting back the messages it signed itself:
// the restart echo (issue 16).
//
// A peer restarted with its identity has an empty seen-cache, so when the
// others gossip (IHAVE) the ids of its last messages from before the
// restart, still in their caches, it asked for them (IWANT) and got them.
// GossipSub then rejected each one as "self originated" (RejectSelfOrigin)
// and counted it as an invalid message of the peer that answered its own
// request: 4-6 from every peer during a job, enough to graylist the whole
// mesh and drop every peer a timeout later.
//
// So the filter does two things. It strips our own message ids from the
// IHAVEs we get, so that we never ask for those messages: a message id is
// the author's peer id followed by its sequence number
// (pubsub.DefaultMsgIdFn, which the mesh uses; TestOwnMessageIDsStartWithOurID
// checks it). Dropping the messages when they arrive instead would leave
// the IWANT unanswered in the router's eyes, a broken promise that
// counts against the sender too (P7), only more mildly. And it drops,
// unread, any published message we signed that still arrives: honest
// routers never push a message to its origin, so that is an echo or a
// replay, neither of which carries anything new. A replay of our messages
// by an attacker therefore costs it nothing, which is no loss: the same
// message from anyone else would be a duplicate.
type echoFilter struct {
	self    string       // our peer id's bytes
	dropped atomic.Int64 // published messages of ours dropped
	asked   atomic.Int64 // ids of ours stripped from IHAVEs
}

func newEchoFilter(self peer.ID) *echoFilter {
	return &echoFilter{self: string(self)}
}

// inspect is a pubsub.WithAppSpecificRpcInspector hook. It runs in the
// router's event loop on each RPC as decoded from one stream, which the
// router owns alone, so the published messages can be filtered in place.
func (f *echoFilter) inspect(_ peer.ID, rpc *pubsub.RPC) error {
	pub := rpc.Publish
	kept := pub[:0]
	for _, m := range pub {
		if string(m.GetFrom()) == f.self {
			f.dropped.Add(1)
			continue
		}
		kept = append(kept, m)
	}
	clear(pub[len(kept):])
	rpc.Publish = kept
	for _, ih := range rpc.GetControl().GetIhave() {
		ids := ih.MessageIDs
		keptIDs := ids[:0]
		for _, id := range ids {
			if strings.HasPrefix(id, f.self) {
				f.asked.Add(1)
				continue
			}
			keptIDs = append(keptIDs, id)
		}
		ih.MessageIDs = keptIDs
	}
	return nil
}

// SelfEchoes is how many of its own messages the node kept others from
// giving back (the restart echo, see echoFilter): ids stripped from their
// IHAVEs plus messages dropped unread.
func (n *Node) SelfEchoes() int64 { return n.echo.asked.Load() + n.echo.dropped.Load() }
