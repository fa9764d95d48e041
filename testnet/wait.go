package testnet

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shoalmesh/shoal/mesh"
)

func (net *Net) poke() {
	net.pokeMu.Lock()
	defer net.pokeMu.Unlock()
	for ch := range net.pokes {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitFor blocks until cond holds or ctx ends. cond is checked at once and
// again after every peer table change of any node and every fault
// injected; it runs on the caller's goroutine.
func (net *Net) WaitFor(ctx context.Context, cond func(*Net) bool) error {
	ch := make(chan struct{}, 1)
	net.pokeMu.Lock()
	net.pokes[ch] = struct{}{}
	net.pokeMu.Unlock()
	defer func() {
		net.pokeMu.Lock()
		delete(net.pokes, ch)
		net.pokeMu.Unlock()
	}()
	for {
		if cond(net) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testnet: condition not met: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Sees reports whether node i (live) lists node j.
func (net *Net) Sees(i, j int) bool {
	n := net.Node(i)
	if n == nil {
		return false
	}
	_, ok := n.Peer(net.ID(j))
	return ok
}

// Converged holds when every live node lists exactly the other live nodes
// that are not partitioned away from it.
func (net *Net) Converged() bool {
	live := net.Live()
	for _, i := range live {
		n := net.Node(i)
		if n == nil {
			return false
		}
		want := 0
		for _, j := range live {
			if j == i || net.isDenied(i, j) {
				continue
			}
			want++
			if !net.Sees(i, j) {
				return false
			}
		}
		if len(n.Peers()) != want {
			return false
		}
	}
	return true
}

func (net *Net) isDenied(i, j int) bool {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.denied[[2]int{i, j}] || net.denied[[2]int{j, i}]
}

// Describe summarises who sees whom, for test failure messages.
func (net *Net) Describe() string {
	s := ""
	for i := range net.nodes {
		n := net.Node(i)
		if n == nil {
			s += fmt.Sprintf("node %d: killed\n", i)
			continue
		}
		s += fmt.Sprintf("node %d: lists %d peers, %d connections, %s presence topic peers\n", i,
			len(n.Peers()), len(n.Host().Network().Peers()), topicPeers(n))
	}
	return s
}

// describeWait bounds how long Describe waits for one node's GossipSub
// router to list its topic peers.
const describeWait = 200 * time.Millisecond

// topicPeers is the number of n's presence topic peers, or "?" when its
// GossipSub router does not answer within describeWait: ListPeers waits
// for the router's event loop, which a swamped mesh keeps busy for
// minutes (seen at 100 peers), and a failure message must not hang on it.
// The goroutine left behind ends when the router answers or closes.
func topicPeers(n *mesh.Node) string {
	ch := make(chan int, 1)
	go func() { ch <- len(n.PubSub().ListPeers(n.Topic("presence"))) }()
	t := time.NewTimer(describeWait)
	defer t.Stop()
	select {
	case k := <-ch:
		return strconv.Itoa(k)
	case <-t.C:
		return "?"
	}
}
