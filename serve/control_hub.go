package serve

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// eventHub gives the node's events their stream ids. It holds one
// subscription to the node (taken when the first event client arrives,
// released by Close or when the node closes it), numbers every event,
// keeps the last ringSize of them so a client that reconnects with
// Last-Event-ID gets what it missed, and fans events out to the clients.
// It also turns polls of the node's peers into peer_updated events
// (peerDiff), so those get ids and replay like the rest.
//
// Ids are "<boot>-<seq>": boot is random per hub, so an id from before a
// restart of the node is recognised as such rather than mistaken for a
// position in the new ring.
//
// Concurrency: the hub's loop is the only writer of the ring; subscribe,
// the clients' cancel and Close may be called from any goroutine. The loop
// never blocks on a client: a client whose queue is full is dropped.
type eventHub struct {
	node        Node
	ringSize    int
	queue       int           // each client's queue
	updateEvery time.Duration // peer polls for peer_updated; 0 never

	mu      sync.Mutex
	started bool
	closed  bool // no more events: Close, or the node closed the stream
	boot    string
	seq     uint64
	ring    []stamped // circular, oldest at ring[head] once full
	head    int
	clients map[*hubClient]struct{}
	stop    chan struct{}
	done    chan struct{}
}

// stamped is an event with its sequence number in the hub.
type stamped struct {
	seq uint64
	ev  controlapi.Event
}

// hubClient is one event stream's subscription to the hub.
type hubClient struct {
	ch   chan stamped  // closed when the hub ends (node closed, Close)
	slow chan struct{} // closed when the client fell behind and was dropped
}

func newEventHub(node Node, ringSize, queue int, updateEvery time.Duration) *eventHub {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &eventHub{
		node: node, ringSize: max(1, ringSize), queue: max(1, queue), updateEvery: updateEvery,
		boot: hex.EncodeToString(b[:]), clients: map[*hubClient]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// id is the stream id of sequence number seq.
func (h *eventHub) id(seq uint64) string { return h.boot + "-" + strconv.FormatUint(seq, 10) }

// subscribe registers a client and returns the events to replay first
// (those after lastID), and reset when lastID could not be resumed from
// (the client must then read the state again). Replay and registration
// happen under one lock, so no event falls between them.
func (h *eventHub) subscribe(lastID string) (c *hubClient, replay []stamped, reset bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started && !h.closed {
		h.started = true
		src, cancel := h.node.Subscribe()
		// The baseline is taken here, not in the loop's goroutine: a
		// change made once the first stream is open must be an event,
		// and the goroutine may run after it (TestPeerUpdatedEvents
		// failed so under -race).
		var diff *peerDiff
		if h.updateEvery > 0 {
			diff = newPeerDiff(h.updateEvery)
			diff.changes(h.node.Peers(), time.Now()) // no events
		}
		go h.loop(src, cancel, diff)
	}
	c = &hubClient{ch: make(chan stamped, h.queue), slow: make(chan struct{})}
	if lastID != "" {
		replay, reset = h.since(lastID)
	}
	if h.closed {
		close(c.ch)
		return c, replay, reset
	}
	h.clients[c] = struct{}{}
	return c, replay, reset
}

// since returns the ring's events after lastID; ok is false when the ring
// does not reach back to it (called with h.mu held).
func (h *eventHub) since(lastID string) (out []stamped, reset bool) {
	boot, num, found := strings.Cut(lastID, "-")
	seq, err := strconv.ParseUint(num, 10, 64)
	if !found || err != nil || boot != h.boot || seq > h.seq {
		return nil, true
	}
	n := len(h.ring)
	oldest := h.seq - uint64(n) + 1 // seq of the oldest event kept
	if seq+1 < oldest {
		return nil, true // events between were dropped from the ring
	}
	for i := range n {
		s := h.ring[(h.head+i)%n]
		if s.seq > seq {
			out = append(out, s)
		}
	}
	return out, false
}

// unsubscribe removes c; its channel is left for the garbage collector.
func (h *eventHub) unsubscribe(c *hubClient) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// publish numbers ev, keeps it in the ring and hands it to every client.
func (h *eventHub) publish(ev controlapi.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	s := stamped{seq: h.seq, ev: ev}
	if len(h.ring) < h.ringSize {
		h.ring = append(h.ring, s)
	} else {
		h.ring[h.head] = s
		h.head = (h.head + 1) % len(h.ring)
	}
	for c := range h.clients {
		select {
		case c.ch <- s:
		default:
			delete(h.clients, c)
			close(c.slow)
		}
	}
}

func (h *eventHub) loop(src <-chan controlapi.Event, cancel func(), diff *peerDiff) {
	defer close(h.done)
	defer cancel()
	var tick <-chan time.Time
	if diff != nil {
		t := time.NewTicker(h.updateEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-h.stop:
			h.end()
			return
		case ev, ok := <-src:
			if !ok {
				h.end()
				return
			}
			if diff != nil && ev.Peer != nil {
				diff.saw(*ev.Peer) // joins and leaves carry the figures already
			}
			h.publish(ev)
		case now := <-tick:
			for _, ev := range diff.changes(h.node.Peers(), now) {
				h.publish(ev)
			}
		}
	}
}

// end closes every client's channel: their streams end.
func (h *eventHub) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		close(c.ch)
	}
	h.clients = map[*hubClient]struct{}{}
}

// numClients is how many streams are subscribed (for tests).
func (h *eventHub) numClients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Close releases the node's subscription and ends every stream. It is safe
// to call more than once, and before the hub ever started.
func (h *eventHub) Close() {
	h.mu.Lock()
	started := h.started
	if !h.closed && started {
		select {
		case <-h.stop:
		default:
			close(h.stop)
		}
	}
	h.closed = true
	h.mu.Unlock()
	if started {
		<-h.done
	}
}
