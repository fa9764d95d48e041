package testnet

import (
	"os"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/node"
)

// KeyFile writes the mesh key in swarm.key format to path (mode 0600), so a
// process outside the Net can join it.
func (net *Net) KeyFile(path string) error {
	if err := os.WriteFile(path, mesh.EncodeKey(net.psk), 0o600); err != nil {
		return err
	}
	// WriteFile keeps the mode of a file that already exists.
	return os.Chmod(path, 0o600)
}

// PSK is the mesh key.
func (net *Net) PSK() pnet.PSK { return net.psk }

// Dir is the folder that holds the nodes' data dirs.
func (net *Net) Dir() string { return net.dir }

// Len is the number of node slots, live or killed.
func (net *Net) Len() int { return len(net.nodes) }

// Node returns node i's mesh host, nil while the node is killed.
func (net *Net) Node(i int) *mesh.Node {
	if p := net.Peer(i); p != nil {
		return p.Mesh()
	}
	return nil
}

// Peer returns the whole node i (mesh, jobs, models, control API), nil
// while it is killed.
func (net *Net) Peer(i int) *node.Node {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.nodes[i]
}

// Jobs returns node i's job manager, nil while the node is killed.
func (net *Net) Jobs(i int) *job.Manager {
	if p := net.Peer(i); p != nil {
		return p.Jobs()
	}
	return nil
}

// APIAddr is node i's control API address (host:port on 127.0.0.1), kept
// across a restart when the port is still free; "" before the first start.
func (net *Net) APIAddr(i int) string {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.api[i]
}

// Client is a control API client for node i (nil while it is killed), as
// the console or the CLI would use; its token is in node i's data dir too.
func (net *Net) Client(i int) *controlapi.Client {
	if p := net.Peer(i); p != nil {
		return p.APIClient()
	}
	return nil
}

// DataDir is node i's data dir.
func (net *Net) DataDir(i int) string { return net.nodeDir(i) }

// ID is node i's peer id (kept across kill and restart).
func (net *Net) ID(i int) peer.ID {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.ids[i]
}

// Live lists the indices of running nodes.
func (net *Net) Live() []int {
	net.mu.Lock()
	defer net.mu.Unlock()
	var out []int
	for i, n := range net.nodes {
		if n != nil {
			out = append(out, i)
		}
	}
	return out
}

// ServeAddr is node i's model server address (host:port on 127.0.0.1,
// TF Serving REST and KServe v2), "" while the node is killed.
func (net *Net) ServeAddr(i int) string {
	if p := net.Peer(i); p != nil {
		return p.ServeAddr()
	}
	return ""
}
