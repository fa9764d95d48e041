//go:build soak

package fault

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// The abuse scenarios of issue 16: a member of the mesh (it holds the
// key) that misbehaves. The attacker lives in the test process, a raw
// libp2p host with the mesh key, so it can send what shoal never would.
// It must reach the honest peers' listeners, so these scenarios run the
// cluster on 127.0.0.1 (Options.Loopback) even where namespaces work:
// nothing about the attacks needs a namespace, and the honest peers see
// every attacker connection from one address, as they would from one
// machine.

// attackerHost is a raw libp2p host on the cluster's mesh key, with
// identity sk (nil: a fresh one), no listener and no resource limits of
// its own.
func attackerHost(t *testing.T, c *Cluster, sk crypto.PrivKey) host.Host {
	t.Helper()
	psk, err := mesh.ReadKey(c.opts.Key)
	if err != nil {
		t.Fatal(err)
	}
	if sk == nil {
		if sk, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	h, err := libp2p.New(libp2p.Identity(sk), libp2p.PrivateNetwork(psk), libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport), libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(), libp2p.DisableMetrics(), libp2p.Ping(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// addrInfo is how the test process dials peer i.
func addrInfo(t *testing.T, c *Cluster, i int) peer.AddrInfo {
	t.Helper()
	p := c.Peer(i)
	id, err := peer.Decode(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/tcp/%d", p.IP, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	return peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{a}}
}

// rssAll is the resident memory of each running peer, in MiB.
func rssAll(t *testing.T, c *Cluster, peers []int) []float64 {
	t.Helper()
	out := make([]float64, len(peers))
	for k, i := range peers {
		b, err := c.Peer(i).RSS()
		if err != nil {
			t.Fatalf("%s: %v", c.Peer(i).Name, err)
		}
		out[k] = float64(b) / (1 << 20)
	}
	return out
}

// rssGrowth is the largest growth from before to after, in MiB.
func rssGrowth(before, after []float64) float64 {
	g := 0.0
	for k := range before {
		g = max(g, after[k]-before[k])
	}
	return g
}

// maxRSSGrowthMiB bounds what an attack may add to an honest peer's
// resident memory: the peers sit at 40–80 MiB; an unbounded queue or
// buffer under these floods grows by hundreds.
const maxRSSGrowthMiB = 100

func fmtMiB(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, strconv.FormatFloat(x, 'f', 0, 64))
	}
	return strings.Join(s, "/") + " MiB"
}

// floodPayloads are the attacker's messages: malformed (garbage, JSON
// that is not a job message, a message of an unknown version or kind,
// an announcement without its body), job announcements far beyond every
// limit (a sample of 2^40 values, 2^31 rows a shard), a message just over
// the job messages' 900 KiB cap and one over GossipSub's 1 MiB, which the
// honest routers refuse to read at all.
func floodPayloads(r *mrand.Rand) [][]byte {
	garbage := make([]byte, 512)
	for i := range garbage {
		garbage[i] = byte(r.IntN(256))
	}
	shard := strings.Repeat("ab", 32)
	huge := fmt.Sprintf(`{"v":1,"kind":"announce","announce":{"spec":{"id":"%s","name":"x","model":"mlp","epochs":1000000,"batch":65536,"min_peers":1},`+
		`"manifest":{"kind":"image","labels":["a","b"],"sample_shape":[1048576,1048576],"shards":[{"id":"%s","rows":2147483647}],"probe":{"id":"%s","rows":1},"train_rows":2147483647}}}`,
		shard, shard, shard)
	return [][]byte{
		garbage,
		[]byte(`{"hello":"world"}`),
		[]byte(`{"v":99,"kind":"announce"}`),
		[]byte(`{"v":1,"kind":"nonsense"}`),
		[]byte(`{"v":1,"kind":"announce"}`),
		[]byte(`{"v":1,"kind":"status","status":{"job":"` + strings.Repeat("z", 4096) + `"}}`),
		[]byte(huge),
		append([]byte(`{"v":1,"kind":"announce","announce":`), bytes.Repeat([]byte(" "), 950<<10)...),
		bytes.Repeat([]byte("x"), 1536<<10),
	}
}

// liarKinds name what is wrong with each of liarPayloads' announcements.
var liarKinds = []string{"id not the spec's hash", "2^30-parameter model (8× the cap)", "unknown model preset", "model and samples disagree"}

// liarPayloads are n job announcements that are well formed and in range
// field by field, and that the sender's router signs like any, yet that no
// peer may take, one of each liarKinds in turn, each a job of its own.
// Before the jobs topic's validator checked them they passed it: every
// honest peer refused them at admission, sent the sender a refusal each,
// and scored nobody down.
func liarPayloads(t *testing.T, n int) (msgs [][]byte, ids []string) {
	t.Helper()
	for i := range n {
		spec := job.Spec{Name: "liar", Model: "mlp", Data: "/data/x", Epochs: 1, Batch: 16, Seed: uint64(i), Submitter: "liar"}
		spec.Fill()
		m := job.Manifest{Kind: "image", Labels: []string{"0", "1"}, SampleShape: []int{784}, TrainRows: 10,
			Shards: []job.ShardRef{{ID: shards.Sum(fmt.Appendf(nil, "liar %d", i)).String(), Rows: 10}},
			Probe:  job.ShardRef{ID: shards.Sum([]byte("liar probe")).String(), Rows: 3}}
		switch i % len(liarKinds) {
		case 0:
			spec.ID = spec.HashID()
			spec.Epochs = 2 // after the id was taken
		case 1:
			spec.ModelSpec = []byte(`{"input":[1048576],"layers":[{"type":"dense","units":1024},{"type":"dense","units":2}]}`)
			m.SampleShape = []int{1 << 20}
		case 2:
			spec.Model = "nosuch"
		case 3:
			m.SampleShape = []int{28, 29}
		}
		if spec.ID == "" {
			spec.ID = spec.HashID()
		}
		b, err := json.Marshal(map[string]any{"v": 1, "kind": "announce", "announce": job.Announcement{Spec: spec, Manifest: m}})
		if err != nil {
			t.Fatal(err)
		}
		msgs, ids = append(msgs, b), append(ids, spec.ID)
	}
	return msgs, ids
}

// attackerTopics joins h to the jobs and presence topics of c's mesh
// (subscribed, so the honest peers take it for a topic peer), connects it
// to every peer and waits until it sees them all in both topics.
func attackerTopics(ctx context.Context, t *testing.T, c *Cluster, h host.Host, n int) []*pubsub.Topic {
	t.Helper()
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMaxMessageSize(4<<20), pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	psk, _ := mesh.ReadKey(c.opts.Key)
	var topics []*pubsub.Topic
	for _, name := range []string{"jobs", "presence"} {
		tp, err := ps.Join("/shoal/" + mesh.MeshIDOf(psk) + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tp.Subscribe(); err != nil {
			t.Fatal(err)
		}
		topics = append(topics, tp)
	}
	for i := range n {
		if err := h.Connect(ctx, addrInfo(t, c, i)); err != nil {
			t.Fatalf("an attacker cannot connect to %s: %v", c.Peer(i).Name, err)
		}
	}
	for _, tp := range topics {
		if err := Poll(ctx, 50*time.Millisecond, func() bool { return len(tp.ListPeers()) >= n }); err != nil {
			t.Fatalf("topic %s: an attacker sees %d topic peers", tp.String(), len(tp.ListPeers()))
		}
	}
	return topics
}

// graylistScores waits until every honest peer has logged graylisting
// attacker id, and returns the scores the lines give.
func graylistScores(ctx context.Context, t *testing.T, c *Cluster, honest []int, who string, id peer.ID) []string {
	t.Helper()
	gray := regexp.MustCompile(`peer graylisted.* peer=` + regexp.QuoteMeta(id.String()) + `.* score=(-?\d+)`)
	var scores []string
	for _, i := range honest {
		m, err := c.Peer(i).WaitLog(ctx, gray)
		if err != nil {
			t.Errorf("%s never graylisted the %s: %v", c.Peer(i).Name, who, err)
			continue
		}
		scores = append(scores, m[1])
	}
	return scores
}

// TestSoakFlood: a member floods the jobs and presence topics with
// malformed and oversized messages (floodPayloads) while the honest peers
// run a job. The job ends as a clean run does (every honest peer done,
// one model, the same members), the peers keep seeing each other, their
// memory stays bounded, and every honest peer scores the attacker down
// until it is graylisted (its RPCs dropped unread, pruned from the meshes).
func TestSoakFlood(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "member floods jobs+presence")
	c := startCluster(t, r, Options{N: sc.N, Loopback: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	honest := indexes(sc.N)
	data := daysJob(t, 2000, sc.partitionEpochs()/6, sc.N)
	r.add(t, "%d peers, %s", sc.N, data.desc)

	start := time.Now()
	clean := submitWait(ctx, t, c, 0, "clean", data)
	cleanTook := time.Since(start)

	h := attackerHost(t, c, nil)
	topics := attackerTopics(ctx, t, c, h, sc.N)
	liar := attackerHost(t, c, nil)
	liarJobs := attackerTopics(ctx, t, c, liar, sc.N)[0]
	before := rssAll(t, c, honest)

	id := submit(ctx, t, c, 0, "flooded", data)
	start = time.Now()
	// Flood until the job has ended on every honest peer (and at least
	// floodMin messages), each payload in turn on both topics. The job's
	// time is taken when it is seen ended (checked every 100 rounds).
	const floodMin = 2000
	payloads := floodPayloads(mrand.New(mrand.NewPCG(1, 2)))
	// The flood carries the liar's kinds of announcement too; the liar
	// sends nothing else, so that its score shows what they cost it.
	liarMsgs, liarIDs := liarPayloads(t, 10*len(liarKinds))
	payloads = append(payloads, liarMsgs[:len(liarKinds)]...)
	liarSent := 0
	for _, m := range liarMsgs {
		if err := liarJobs.Publish(ctx, m); err != nil {
			t.Fatalf("the liar's router refused its announcement: %v", err)
		}
		liarSent++
	}
	var sent, refused int
	var peak []float64
	ended := func() bool {
		for _, i := range honest {
			if j, ok := c.Job(ctx, i, id); !ok || j.State != "done" && j.State != "failed" {
				return false
			}
		}
		return true
	}
	done := false
	var took time.Duration
	for k := 0; sent < floodMin || !done; k++ {
		if ctx.Err() != nil {
			t.Fatal("the job never ended under the flood")
		}
		if k%100 == 0 && !done {
			if done = ended(); done {
				took = time.Since(start)
			}
		}
		for _, tp := range topics {
			if err := tp.Publish(ctx, payloads[k%len(payloads)]); err != nil {
				refused++ // the attacker's own router may refuse (no peers above its publish threshold)
			} else {
				sent++
			}
		}
		if k%200 == 0 {
			now := rssAll(t, c, honest)
			if peak == nil {
				peak = now
			}
			for x := range now {
				peak[x] = max(peak[x], now[x])
			}
		}
	}
	flooded := time.Since(start)
	views := waitEnded(ctx, t, c, id, honest)
	hash := sameModel(t, c, views)
	after := rssAll(t, c, honest)
	for x := range after {
		peak[x] = max(peak[x], after[x])
	}
	r.add(t, "flood: %d messages sent (%d refused by the attacker's own router) over %.1fs, %d kinds (garbage, bad JSON, bad version/kind, empty announce, 4 KiB job id, 2^40-value sample, 950 KiB, 1.5 MiB, and the liar's %d)",
		sent, refused, flooded.Seconds(), len(payloads), len(liarKinds))
	r.add(t, "job under the flood %.1fs (clean %.1fs, %.2f×), model %.12s on %d peers, members %d / clean %d",
		took.Seconds(), cleanTook.Seconds(), took.Seconds()/cleanTook.Seconds(), hash, len(views), views[0].Members, clean.Members)
	for _, i := range honest {
		if views[i].Members != clean.Members {
			t.Errorf("%s counted %d members under the flood, %d without", c.Peer(i).Name, views[i].Members, clean.Members)
		}
	}
	if _, err := c.WaitConverged(ctx, honest...); err != nil {
		t.Error(err)
	}
	left := regexp.MustCompile(`peer left`)
	if n := countLogs(c, left); n > 0 {
		t.Errorf("%d \"peer left\" lines: an honest peer dropped another under the flood", n)
	}
	growth := rssGrowth(before, peak)
	r.add(t, "honest RSS before %s, peak %s, after %s: largest growth %.0f MiB", fmtMiB(before), fmtMiB(peak), fmtMiB(after), growth)
	if growth > maxRSSGrowthMiB {
		t.Errorf("an honest peer grew by %.0f MiB under the flood (bound %d)", growth, maxRSSGrowthMiB)
	}
	scores := graylistScores(ctx, t, c, honest, "flooding attacker", h.ID())
	r.add(t, "attacker graylisted by %d of %d peers, score when graylisted %v", len(scores), len(honest), scores)

	// Its announcements went out before the flood's job ended: it is
	// graylisted by now or never (a build that admits and refuses them
	// instead: fail in a minute, not at the scenario's deadline).
	lctx, lcancel := context.WithTimeout(ctx, time.Minute)
	defer lcancel()
	scores = graylistScores(lctx, t, c, honest, "liar", liar.ID())
	// No honest peer took up, or even weighed, a job of the liar's: the
	// validator dropped every announcement before admission (which logs
	// "job refused" and sends a refusal).
	listed, refusals := 0, 0
	for _, i := range honest {
		lines := strings.Split(c.Peer(i).Log(), "\n")
		for _, lid := range liarIDs {
			if _, ok := c.Job(ctx, i, lid); ok {
				listed++
			}
			for _, l := range lines {
				if strings.Contains(l, "job refused") && strings.Contains(l, lid) {
					refusals++
				}
			}
		}
	}
	r.add(t, "liar: %d well-formed signed announcements (%s), graylisted by %d of %d peers, score when graylisted %v; jobs taken up %d, refused at admission %d",
		liarSent, strings.Join(liarKinds, ", "), len(scores), len(honest), scores, listed, refusals)
	if listed > 0 || refusals > 0 {
		t.Errorf("the liar's announcements reached admission: %d jobs listed, %d refusals logged by the honest peers", listed, refusals)
	}
}

// TestSoakDenied: one more member joins, and every honest peer's operator
// denies it (POST /api/v1/peers/{id}/deny). It leaves every peer table, a
// job then runs without it, and neither the running process (which keeps
// dialing its bootstrap peer) nor the same peer restarted gets back in.
func TestSoakDenied(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "peer denied by the operators")
	c := startCluster(t, r, Options{N: sc.N})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	honest := indexes(sc.N)
	bad, err := c.AddPeer(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	denied := time.Now()
	for _, i := range honest {
		cl, err := c.Peer(i).Client()
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.DenyPeer(ctx, bad.ID); err != nil {
			t.Fatalf("%s: deny: %v", c.Peer(i).Name, err)
		}
	}
	gone := func() bool {
		for _, i := range honest {
			if c.Sees(ctx, i, []string{bad.ID}) {
				return false
			}
		}
		return true
	}
	if err := Poll(ctx, 100*time.Millisecond, gone); err != nil {
		t.Fatal("the denied peer is still listed")
	}
	r.add(t, "%d honest peers + 1 denied: gone from every peer table %.1fs after the deny", sc.N, time.Since(denied).Seconds())
	joined := regexp.MustCompile(`peer joined.* peer=` + regexp.QuoteMeta(bad.ID))
	joinsBefore := make([]int, sc.N)
	for _, i := range honest {
		joinsBefore[i] = len(joined.FindAllString(c.Peer(i).Log(), -1))
	}

	data := daysJob(t, 2000, sc.partitionEpochs()/6, sc.N)
	start := time.Now()
	j := submitWait(ctx, t, c, 0, "without-denied", data)
	views := waitEnded(ctx, t, c, j.ID, honest)
	hash := sameModel(t, c, views)
	for _, i := range honest {
		if views[i].Members != sc.N {
			t.Errorf("%s counted %d members, want %d (the denied peer kept out)", c.Peer(i).Name, views[i].Members, sc.N)
		}
	}
	if bj, ok := c.Job(ctx, bad.Index, j.ID); ok {
		t.Errorf("the denied peer took part in the job (state %s)", bj.State)
	}
	r.add(t, "job while it runs and dials: %.1fs, model %.12s on %d peers, %d members", time.Since(start).Seconds(), hash, len(views), views[0].Members)

	// The same identity, restarted, is still refused: the gater refuses
	// it after the handshake, and it never hears a heartbeat.
	if err := c.Kill(bad.Index); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, bad.Index); err != nil {
		t.Fatal(err)
	}
	refused := regexp.MustCompile(`cannot reach peer \S+ at \S+`)
	if _, err := bad.WaitLog(ctx, refused); err != nil {
		t.Errorf("the restarted denied peer was never told it is refused: %v", err)
	}
	// Until it has been refused twice (its bootstrap loop retries), no
	// honest peer may list it.
	listed := 0
	_ = Poll(ctx, 500*time.Millisecond, func() bool {
		for _, i := range honest {
			if c.Sees(ctx, i, []string{bad.ID}) {
				listed++
			}
		}
		return len(refused.FindAllString(bad.Log(), -1)) >= 2
	})
	for _, i := range honest {
		if n := len(joined.FindAllString(c.Peer(i).Log(), -1)); n != joinsBefore[i] {
			t.Errorf("%s logged the denied peer joining again", c.Peer(i).Name)
		}
	}
	if listed > 0 {
		t.Errorf("an honest peer listed the restarted denied peer")
	}
	if regexp.MustCompile(`peer joined`).MatchString(bad.Log()) {
		t.Error("the restarted denied peer joined somebody")
	}
	gray := regexp.MustCompile(`peer graylisted.* peer=` + regexp.QuoteMeta(bad.ID))
	n := 0
	for _, i := range honest {
		if gray.MatchString(c.Peer(i).Log()) {
			n++
		}
	}
	r.add(t, "restarted with the same identity: refused (%d refusals in its log), listed by none, graylisted in the gossip scores of %d of %d peers",
		len(refused.FindAllString(bad.Log(), -1)), n, sc.N)
}

// TestSoakExhaustion: one process opens 200 connections to a peer (200
// hosts with one identity), then 5,000 streams on one connection. The
// peer's resource manager refuses what is past its per-peer limits
// (8 connections, 256 inbound streams, 64 of one protocol: mesh/host.go), the peer's memory
// stays bounded and a job of the honest peers runs meanwhile.
func TestSoakExhaustion(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "200 conns + 5000 streams")
	c := startCluster(t, r, Options{N: sc.N, Loopback: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	honest := indexes(sc.N)
	target := addrInfo(t, c, 0)
	before := rssAll(t, c, honest)

	data := daysJob(t, 2000, sc.partitionEpochs()/6, sc.N)
	start := time.Now()
	clean := submitWait(ctx, t, c, 0, "clean", data)
	cleanTook := time.Since(start)
	id := submit(ctx, t, c, 0, "exhausted", data)
	start = time.Now()

	// 200 connections from one identity.
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const nConns, nStreams = 200, 5000
	hosts := make([]host.Host, nConns)
	var dialErrs atomic.Int64
	var wg sync.WaitGroup
	for k := range hosts {
		hosts[k] = attackerHost(t, c, sk)
		wg.Add(1)
		go func(h host.Host) {
			defer wg.Done()
			dctx, dcancel := context.WithTimeout(ctx, 20*time.Second)
			defer dcancel()
			if err := h.Connect(dctx, target); err != nil {
				dialErrs.Add(1)
			}
		}(hosts[k])
	}
	wg.Wait()
	// Connections the peer took and then refused close at its end; count
	// what is still open once they have settled.
	var open int
	_ = Poll(ctx, 200*time.Millisecond, func() bool {
		n := 0
		for _, h := range hosts {
			n += len(h.Network().ConnsToPeer(target.ID))
		}
		settled := n == open
		open = n
		return settled && time.Since(start) > 3*time.Second
	})
	r.add(t, "%d connections from one identity: %d still open, %d dials failed", nConns, open, dialErrs.Load())
	if open > 16 {
		t.Errorf("%d of %d connections from one peer stay open: the per-peer limit did not hold", open, nConns)
	}
	if open == 0 {
		t.Errorf("no connection at all stayed open: the peer refuses even one")
	}
	for _, h := range hosts[1:] {
		h.Close()
	}

	// 5,000 streams on the first host's connection, each a ping that the
	// peer echoes; those that work stay open.
	h := hosts[0]
	if err := h.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	var ok, reset atomic.Int64
	var held sync.Mutex
	var streams []network.Stream
	work := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32)
			for range work {
				s, err := h.NewStream(ctx, target.ID, ping.ID)
				if err != nil {
					reset.Add(1)
					continue
				}
				_ = s.SetDeadline(time.Now().Add(20 * time.Second))
				rand.Read(buf)
				echo := make([]byte, 32)
				if _, err := s.Write(buf); err == nil {
					if _, err = io.ReadFull(s, echo); err == nil && bytes.Equal(buf, echo) {
						ok.Add(1)
						held.Lock()
						streams = append(streams, s)
						held.Unlock()
						continue
					}
				}
				s.Reset()
				reset.Add(1)
			}
		}()
	}
	streamStart := time.Now()
	for range nStreams {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	r.add(t, "%d streams on one connection in %.1fs: %d answered and held open, %d refused (reset)", nStreams, time.Since(streamStart).Seconds(), ok.Load(), reset.Load())
	if ok.Load() > 256 {
		t.Errorf("%d streams of one peer answered: the per-peer stream limit did not hold", ok.Load())
	}
	if ok.Load() == 0 {
		t.Error("not a single stream answered")
	}
	peak := rssAll(t, c, honest)

	views := waitEnded(ctx, t, c, id, honest)
	took := time.Since(start)
	hash := sameModel(t, c, views)
	for _, i := range honest {
		if views[i].Members != clean.Members {
			t.Errorf("%s counted %d members, %d in the clean run", c.Peer(i).Name, views[i].Members, clean.Members)
		}
	}
	if !c.Peer(0).Running() {
		t.Fatal("the target died")
	}
	// Honest traffic to the target still flows while the streams are held.
	if _, err := c.WaitConverged(ctx, honest...); err != nil {
		t.Error(err)
	}
	held.Lock()
	for _, s := range streams {
		s.Reset()
	}
	held.Unlock()
	after := rssAll(t, c, honest)
	growth := rssGrowth(before, peak)
	r.add(t, "job meanwhile %.1fs (clean %.1fs), model %.12s on %d peers; RSS before %s, with the streams held %s, after %s (largest growth %.0f MiB)",
		took.Seconds(), cleanTook.Seconds(), hash, len(views), fmtMiB(before), fmtMiB(peak), fmtMiB(after), growth)
	if growth > maxRSSGrowthMiB {
		t.Errorf("a peer grew by %.0f MiB (bound %d)", growth, maxRSSGrowthMiB)
	}
}
