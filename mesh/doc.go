// Package mesh is a shoal node's life on the network: the libp2p host on a
// private network (pre-shared key), discovery, presence over GossipSub, the
// peer table, and the stream protocols that move bulk bytes between peers.
package mesh
