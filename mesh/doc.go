// Package mesh is a shoal node's life on the network: the libp2p host on a
// private network (pre-shared key), discovery, presence over GossipSub, the
// peer table, and the stream protocols that move bulk bytes between peers.
//
// A Node (Start) is a libp2p host that speaks only TCP and WebSocket (a
// pre-shared key rules out QUIC, WebTransport and WebRTC), secured by Noise
// or TLS on top of the key, with a resource manager and a connection gater
// (Deny, Undeny, SetAllowList). It finds peers through Config.Bootstrap,
// mDNS, a private Kademlia DHT under /shoal/<meshid>, and presence:
// every node publishes a small signed heartbeat (Presence, JSON, at most
// MaxPresenceSize bytes) on "/shoal/<meshid>/presence", and dials the peers
// it hears of directly, so a small mesh does not lean on its bootstrap peer.
//
// The peer table (Peers, Subscribe) lists a peer from its first heartbeat
// (for a peer heard only through gossip, not directly connected: from a
// second heartbeat a little later, since the first may be a stale one
// replayed by GossipSub) until it says it is leaving, its last connection drops and a redial
// fails, or it stays silent for PeerTimeout (twice that while still
// connected and answering pings: a connected peer silent for 2/5 of
// PeerTimeout is probed, and one that misses two pings goes as
// "unresponsive", as a hung process does — probe.go). Heartbeats still in flight from a peer that left do not bring
// it back (tombstones); a restarted peer comes back at once.
//
// The mesh id is a short hash of the key, so two meshes never share a topic
// or protocol even if they meet. Every topic joined through JoinTopic has a
// validator that sees the message's signed origin (StrictSign). GossipSub
// peer scoring is on (score.go): a member whose messages validators reject,
// or one the operator denied, is pruned from the topic meshes and then
// graylisted (its gossip dropped unread); PeerScore reads the scores. A
// peer is kept from getting its own messages back (a restart's echo,
// echo.go), so a restarted peer does not score its mesh down. The
// resource manager caps what one peer may open (host.go).
//
// Methods of Node are safe for concurrent use. Event channels never block
// the node: a subscriber that falls behind loses events (DroppedEvents).
package mesh
