package mesh

import (
	"context"
	"fmt"
	"strings"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// presenceTopic is the topic name (under the mesh id) of heartbeats; it is
// the node's own and cannot be joined through JoinTopic.
const presenceTopic = "presence"

// newGossipSub starts the GossipSub router that carries the mesh's
// signalling: every message signed by its origin, small, validated, and
// every peer scored (score.go) on the topic presence and those JoinTopic
// adds, with denied deciding who is denied, and our own messages sent
// back to us dropped by echo before the router reads them.
func newGossipSub(ctx context.Context, h host.Host, presence string, denied func(peer.ID) bool, sk *scoreKeeper, echo *echoFilter) (*pubsub.PubSub, error) {
	gsp := pubsub.DefaultGossipSubParams()
	gsp.Dlazy = gossipDlazy
	gsp.GossipFactor = gossipFactor
	gsp.HistoryGossip = gossipHistory
	opts := []pubsub.Option{
		pubsub.WithGossipSubParams(gsp),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerExchange(true),
		// Flood publishing (the default) sends our own messages to every
		// connected topic peer, not just the mesh: a node that just joined
		// has no mesh yet, and its first heartbeat must still reach its
		// bootstrap peer at once. Measured: turning it off saved ~20% CPU
		// but delayed a restarted peer's return past 3 s.
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(maxMessageSize),
		pubsub.WithValidateQueueSize(validateQueueSize),
		pubsub.WithPeerOutboundQueueSize(peerOutboundQueueSize),
		pubsub.WithAppSpecificRpcInspector(echo.inspect),
	}
	return pubsub.NewGossipSub(ctx, h, append(opts, peerScoreOptions(presence, denied, sk)...)...)
}

// Topic is the full GossipSub topic for name: "/shoal/<meshid>/<name>".
func (n *Node) Topic(name string) string { return "/shoal/" + n.meshID + "/" + name }

// Protocol is a stream protocol id under this mesh:
// "/shoal/<meshid>/<name>", e.g. Protocol("shard/1.0.0").
func (n *Node) Protocol(name string) protocol.ID {
	return protocol.ID("/shoal/" + n.meshID + "/" + name)
}

// JoinTopic joins n.Topic(name) with validate as its validator. validate is
// called with the message's signed origin (not the relaying peer) and its
// data; an error rejects the message, and counts against the peer that
// sent it in its GossipSub score (score.go: a peer that keeps sending
// invalid messages is pruned, then ignored). Messages whose origin is denied (or
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
	if err := t.SetScoreParams(topicScoreParams()); err != nil {
		_ = t.Close()
		_ = n.ps.UnregisterTopicValidator(full)
		return nil, fmt.Errorf("mesh: topic %q: %w", name, err)
	}
	n.topics[full] = t
	return t, nil
}
