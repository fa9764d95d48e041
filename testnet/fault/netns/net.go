package netns

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// Subnet is the private test subnet every Net uses, inside its own
// namespaces only (so two Nets never clash): the hub's bridge is .1, node
// i is .(10+i).
const Subnet = "10.77.0.0/24"

// NodeIP is node i's address.
func NodeIP(i int) string { return "10.77.0." + strconv.Itoa(10+i) }

// Net is a hub namespace with a bridge and nodes joined to it.
type Net struct {
	id  string // distinguishes Nets of one process
	Hub *NS

	mu    sync.Mutex
	nodes []*Node
}

// Node is one namespace of a Net, with interface eth0 at IP.
type Node struct {
	*NS
	Index int
	IP    string

	nft     bool
	blocked []string // addresses cut off, for the blackhole fallback
}

// NewNet creates the hub and n nodes. On error what was made is removed.
func NewNet(n int) (*Net, error) {
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("netns: %d nodes, want 1..200", n)
	}
	id := strconv.Itoa(int(seq.Add(1)))
	hub, err := New(id + "-hub")
	if err != nil {
		return nil, err
	}
	net := &Net{id: id, Hub: hub}
	if err := ipCmd("-n", hub.Name, "link", "add", "br0", "type", "bridge"); err != nil {
		net.Close()
		return nil, err
	}
	if err := ipCmd("-n", hub.Name, "addr", "add", "10.77.0.1/24", "dev", "br0"); err != nil {
		net.Close()
		return nil, err
	}
	if err := ipCmd("-n", hub.Name, "link", "set", "br0", "up"); err != nil {
		net.Close()
		return nil, err
	}
	for i := range n {
		if _, err := net.add(i); err != nil {
			net.Close()
			return nil, err
		}
	}
	return net, nil
}

func (net *Net) add(i int) (*Node, error) {
	ns, err := New(net.id + "-n" + strconv.Itoa(i))
	if err != nil {
		return nil, err
	}
	nd := &Node{NS: ns, Index: i, IP: NodeIP(i)}
	net.mu.Lock()
	net.nodes = append(net.nodes, nd)
	net.mu.Unlock()
	hubEnd := "v" + strconv.Itoa(i)
	steps := [][]string{
		{"-n", net.Hub.Name, "link", "add", hubEnd, "type", "veth", "peer", "name", "eth0", "netns", ns.Name},
		{"-n", net.Hub.Name, "link", "set", hubEnd, "master", "br0"},
		{"-n", net.Hub.Name, "link", "set", hubEnd, "up"},
		{"-n", ns.Name, "addr", "add", nd.IP + "/24", "dev", "eth0"},
		{"-n", ns.Name, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return nil, err
		}
	}
	if HasNft() {
		if err := nd.nftScript(nftBase); err != nil {
			return nil, err
		}
		nd.nft = true
	}
	return nd, nil
}

// Nodes returns the nodes in index order (a copy of the slice).
func (net *Net) Nodes() []*Node {
	net.mu.Lock()
	defer net.mu.Unlock()
	return append([]*Node(nil), net.nodes...)
}

// Close deletes every namespace of the net. It is safe to call twice.
func (net *Net) Close() error {
	net.mu.Lock()
	nodes := net.nodes
	net.nodes = nil
	hub := net.Hub
	net.Hub = nil
	net.mu.Unlock()
	var errs []error
	for _, nd := range nodes {
		errs = append(errs, nd.Delete())
	}
	if hub != nil {
		errs = append(errs, hub.Delete())
	}
	return errors.Join(errs...)
}

// nftBase is the table every node gets: a set of addresses cut off (a
// partition) and a loss chain, both empty; traffic on lo is never touched,
// so a proxy in front of a local listener keeps working.
const nftBase = `table inet shoalfault {
	set blocked { type ipv4_addr; }
	chain loss { }
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "lo" accept
		ip saddr @blocked drop
		jump loss
	}
	chain output {
		type filter hook output priority 0; policy accept;
		oifname "lo" accept
		ip daddr @blocked drop
	}
}
`

func (nd *Node) nftScript(script string) error {
	cmd := exec.Command("ip", "netns", "exec", nd.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netns %s: nft: %v: %s\n%s", nd.Name, err, strings.TrimSpace(string(out)), script)
	}
	return nil
}

// Block drops all traffic between this node and ips (silently, as a cut
// cable: connections hang until their timeouts). It replaces the previous
// list; none unblocks all.
func (nd *Node) Block(ips ...string) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.nft {
		s := "flush set inet shoalfault blocked\n"
		if len(ips) > 0 {
			s += "add element inet shoalfault blocked { " + strings.Join(ips, ", ") + " }\n"
		}
		return nd.nftScript(s)
	}
	// Without nft: blackhole routes. Outgoing packets (replies too) to a
	// blocked address are dropped, so no TCP exchange completes.
	for _, ip := range nd.blocked {
		if err := ipCmd("-n", nd.Name, "route", "del", "blackhole", ip+"/32"); err != nil {
			return err
		}
	}
	nd.blocked = nil
	for _, ip := range ips {
		if err := ipCmd("-n", nd.Name, "route", "add", "blackhole", ip+"/32"); err != nil {
			return err
		}
		nd.blocked = append(nd.blocked, ip)
	}
	return nil
}

// ErrNoNft is returned for a fault only nftables can inject.
var ErrNoNft = errors.New("netns: nft not installed (apt-get install nftables)")

// Loss drops pct percent of the packets arriving on eth0, at random
// (nftables numgen); 0 stops it. Each direction of a link loses pct%, since
// every packet arrives at exactly one node.
func (nd *Node) Loss(pct int) error {
	if pct < 0 || pct > 100 {
		return fmt.Errorf("netns: loss %d%%", pct)
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if !nd.nft {
		return ErrNoNft
	}
	s := "flush chain inet shoalfault loss\n"
	switch {
	case pct == 100:
		s += "add rule inet shoalfault loss iifname \"eth0\" drop\n"
	case pct > 0:
		s += fmt.Sprintf("add rule inet shoalfault loss iifname \"eth0\" numgen random mod 100 < %d drop\n", pct)
	}
	return nd.nftScript(s)
}

// Rate caps what the node sends on eth0 with a tc tbf qdisc, rate in tc's
// units ("10mbit"); "" removes the cap. Every direction of a link is then
// capped at its sender.
func (nd *Node) Rate(rate string) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	// Remove what is there; an error here only means there was nothing.
	_ = exec.Command("tc", "-n", nd.Name, "qdisc", "del", "dev", "eth0", "root").Run()
	if rate == "" {
		return nil
	}
	out, err := exec.Command("tc", "-n", nd.Name, "qdisc", "add", "dev", "eth0", "root", "tbf",
		"rate", rate, "burst", "32kbit", "latency", "400ms").CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns %s: tc tbf %s: %v: %s", nd.Name, rate, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Partition cuts the net into groups of node indexes: nodes in different
// groups cannot reach each other; nodes in no group form one more group.
func (net *Net) Partition(groups ...[]int) error {
	nodes := net.Nodes()
	group := make([]int, len(nodes))
	for i := range group {
		group[i] = -1
	}
	for g, members := range groups {
		for _, i := range members {
			if i < 0 || i >= len(nodes) || group[i] != -1 {
				return fmt.Errorf("netns: node %d out of range or in two groups", i)
			}
			group[i] = g
		}
	}
	var errs []error
	for i, nd := range nodes {
		var ips []string
		for j, other := range nodes {
			if group[j] != group[i] {
				ips = append(ips, other.IP)
			}
		}
		errs = append(errs, nd.Block(ips...))
	}
	return errors.Join(errs...)
}

// Heal lifts any partition.
func (net *Net) Heal() error {
	var errs []error
	for _, nd := range net.Nodes() {
		errs = append(errs, nd.Block())
	}
	return errors.Join(errs...)
}

// SetLoss sets the loss of every node.
func (net *Net) SetLoss(pct int) error {
	var errs []error
	for _, nd := range net.Nodes() {
		errs = append(errs, nd.Loss(pct))
	}
	return errors.Join(errs...)
}

// Reachable reports whether a TCP connection from node from to addr (an
// ip:port inside the net) opens within ctx.
func (net *Net) Reachable(ctx context.Context, from int, addr string) bool {
	c, err := net.Nodes()[from].Dial(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// AddNode adds one more node to the net (the next index).
func (net *Net) AddNode() (*Node, error) {
	net.mu.Lock()
	i := len(net.nodes)
	net.mu.Unlock()
	return net.add(i)
}
