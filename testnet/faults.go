package testnet

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/mesh"
)

// Kill closes node i (as a clean shutdown would: API, jobs, then host).
func (net *Net) Kill(i int) error {
	net.mu.Lock()
	nd, cancel := net.nodes[i], net.cancel[i]
	net.nodes[i], net.cancel[i] = nil, nil
	net.mu.Unlock()
	if nd == nil {
		return fmt.Errorf("testnet: node %d is not running", i)
	}
	cancel()
	err := nd.Close()
	net.poke()
	return err
}

// Restart starts node i again with its identity and data dir, on its old
// address when free, bootstrapping from up to three other live nodes.
func (net *Net) Restart(i int) error {
	net.mu.Lock()
	if net.nodes[i] != nil {
		net.mu.Unlock()
		return fmt.Errorf("testnet: node %d is running", i)
	}
	// Bootstrap from up to three live nodes, as a node started with a
	// few --bootstrap addresses would: with one, a restarted node learns
	// the rest only from relayed heartbeats, which on a loaded machine
	// took more than the 3 s a return may take (about one run in four).
	var boot []string
	for j, n := range net.nodes {
		if n != nil && j != i && !net.denied[[2]int{i, j}] {
			boot = append(boot, n.Mesh().Addrs()...)
			if len(boot) >= 3*len(n.Mesh().Addrs()) {
				break
			}
		}
	}
	net.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return net.startNode(ctx, i, boot)
}

// Partition splits the mesh: nodes in different groups deny each other
// (through their connection gaters, which closes their connections). Nodes
// in no group form one more group. It replaces any earlier partition.
func (net *Net) Partition(groups ...[]int) error {
	group := make([]int, len(net.nodes))
	for i := range group {
		group[i] = -1
	}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(group) {
				return fmt.Errorf("testnet: no node %d", i)
			}
			if group[i] != -1 {
				return fmt.Errorf("testnet: node %d in two groups", i)
			}
			group[i] = g
		}
	}
	net.Heal()
	net.mu.Lock()
	for i := range group {
		for j := range group {
			if i != j && group[i] != group[j] {
				net.denied[[2]int{i, j}] = true
			}
		}
	}
	pairs := net.deniedPairsLocked()
	net.mu.Unlock()
	for _, p := range pairs {
		p.node.Deny(p.id)
	}
	net.poke()
	return nil
}

// Heal lifts the partition: every denied pair is undenied, and the nodes
// dial each other again.
func (net *Net) Heal() {
	net.mu.Lock()
	pairs := net.deniedPairsLocked()
	clear(net.denied)
	net.mu.Unlock()
	for _, p := range pairs {
		p.node.Undeny(p.id)
	}
	net.poke()
}

type nodePeer struct {
	node *mesh.Node
	id   peer.ID
}

func (net *Net) deniedPairsLocked() []nodePeer {
	var out []nodePeer
	for pair := range net.denied {
		if n := net.nodes[pair[0]]; n != nil && net.ids[pair[1]] != "" {
			out = append(out, nodePeer{n.Mesh(), net.ids[pair[1]]})
		}
	}
	return out
}
