package forward

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/registry"
)

// tinyModel is an image model taking 4 numbers into 3 classes, weights
// drawn from seed.
func tinyModel(t testing.TB, seed uint64) []byte {
	t.Helper()
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{
		{Type: "dense", Units: 8, Activation: "relu"},
		{Type: "dense", Units: 3},
	}}, seed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testPeer is one mesh host with a registry over its own model store, the
// infer server and a forwarding catalog.
type testPeer struct {
	name  string
	node  *mesh.Node
	reg   *registry.Registry
	local inference.Catalog // what srv answers from (reg, or a test double)
	srv   *Server
	cat   *Catalog
	// queue, when >= 0, replaces the queue depth announced.
	queue atomic.Int64
}

type peerOpts struct {
	models map[string][]byte // name → model file, published before start
	local  func(*registry.Registry) inference.Catalog
	boot   []string
	catOpt Options
}

func startPeer(t *testing.T, psk pnet.PSK, name string, o peerOpts) *testPeer {
	t.Helper()
	store, err := modelstore.Open(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range o.models {
		if _, err := store.Publish(n, b); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := registry.New(store, registry.Options{RescanInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	p := &testPeer{name: name, reg: reg, local: reg}
	p.queue.Store(-1)
	if o.local != nil {
		p.local = o.local(reg)
	}
	var srv atomic.Pointer[Server]
	p.node, err = mesh.Start(context.Background(), mesh.Config{
		PSK: psk, Name: name, Bootstrap: o.boot, HeartbeatInterval: 100 * time.Millisecond, PeerTimeout: 2 * time.Second,
		PresenceExtra: func() mesh.PresenceExtra {
			served := Announce(reg, srv.Load())
			if q := p.queue.Load(); q >= 0 {
				for i := range served {
					served[i].Queue = int(q)
				}
			}
			return mesh.PresenceExtra{Served: served}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.node.Close() })
	p.srv = Serve(p.node, p.local, nil)
	srv.Store(p.srv)
	t.Cleanup(func() { _ = p.srv.Close() })
	p.cat = NewCatalog(p.node, reg, o.catOpt)
	return p
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		<-tick.C
	}
}

// holdersOf is how many live peers p sees announcing name.
func holdersOf(p *testPeer, name string) int { return len(p.cat.holders(name, 0)) }

func newKey(t *testing.T) pnet.PSK {
	t.Helper()
	k, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var tinyInputs = []inference.Input{[]float32{0.1, -0.2, 0.3, 0.9}, []float32{1, 1, 0, -1}}

func predictVia(t *testing.T, cat inference.Catalog, name string, timeout time.Duration, inputs []inference.Input) ([]inference.Prediction, string, error) {
	t.Helper()
	m, err := cat.Lookup(name, 0, "")
	if err != nil {
		return nil, "", err
	}
	for _, in := range inputs {
		if err := m.Check(in); err != nil {
			return nil, "", err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, rt := inference.WithRoute(ctx)
	preds, err := m.Predict(ctx, inputs)
	return preds, rt.Peer(), err
}

// TestForwardToHolder: a model held by A only is queried through B's
// catalog; the answer equals A's local one and the route names A.
func TestForwardToHolder(t *testing.T) {
	psk := newKey(t)
	a := startPeer(t, psk, "a", peerOpts{models: map[string][]byte{"tiny": tinyModel(t, 1)}})
	b := startPeer(t, psk, "b", peerOpts{boot: a.node.Addrs()})
	waitFor(t, "b hears a serve tiny", 15*time.Second, func() bool { return holdersOf(b, "tiny") == 1 })

	want, peerA, err := predictVia(t, a.cat, "tiny", 5*time.Second, tinyInputs)
	if err != nil || peerA != "" {
		t.Fatalf("a local: %v, route %q", err, peerA)
	}
	start := time.Now()
	got, via, err := predictVia(t, b.cat, "tiny", 5*time.Second, tinyInputs)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("forwarded %+v, local %+v", got, want)
	}
	if via != a.node.ID().String() {
		t.Fatalf("route %q, want a (%s)", via, a.node.ID())
	}
	t.Logf("first forwarded query (stream + metadata): %v", took)

	// The catalog's other answers come from the peers too.
	if names := b.cat.Names(); !reflect.DeepEqual(names, []string{"tiny"}) {
		t.Errorf("names %v", names)
	}
	if vs, err := b.cat.Versions("tiny"); err != nil || len(vs) != 1 || vs[0].Version != 1 || vs[0].State != inference.StateAvailable {
		t.Errorf("versions %+v, %v", vs, err)
	}
	if ls, err := b.cat.Labels("tiny"); err != nil || len(ls) != 0 {
		t.Errorf("labels %v, %v", ls, err)
	}
	m, err := b.cat.Lookup("tiny", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if sig := m.Signature(); sig.InputSize != 4 || len(sig.Labels) != 3 || sig.Kind != inference.KindImage {
		t.Errorf("signature %+v", sig)
	}
	if err := m.Check([]float32{1, 2}); !errors.Is(err, inference.ErrBadInput) {
		t.Errorf("short input: %v", err)
	}
	if _, err := b.cat.Lookup("tiny", 7, ""); !errors.Is(err, inference.ErrVersionNotFound) {
		t.Errorf("version 7: %v", err)
	}
	if _, err := b.cat.Lookup("nope", 0, ""); !errors.Is(err, inference.ErrModelNotFound) {
		t.Errorf("unknown model: %v", err)
	}
	// A bad input reaching the holder is refused as such, and backs nobody off.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.Predict(ctx, []inference.Input{[]float32{1, 2}}); !errors.Is(err, inference.ErrBadInput) {
		t.Errorf("bad input forwarded: %v", err)
	}
	if _, off := b.cat.BackedOff(a.node.ID()); off {
		t.Error("a bad input backed the holder off")
	}

	// Figures: local vs forwarded latency of one query, warm.
	const n = 200
	lat := func(cat inference.Catalog) time.Duration {
		start := time.Now()
		for range n {
			if _, _, err := predictVia(t, cat, "tiny", 5*time.Second, tinyInputs[:1]); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / n
	}
	t.Logf("one query of one input, mean of %d: local %v, forwarded %v", n, lat(a.cat), lat(b.cat))
}

// TestFailoverWhenHolderDies: with two holders, killing the preferred one
// makes the next query go to the other within its deadline.
func TestFailoverWhenHolderDies(t *testing.T) {
	psk := newKey(t)
	model := tinyModel(t, 2)
	a := startPeer(t, psk, "a", peerOpts{models: map[string][]byte{"tiny": model}})
	c := startPeer(t, psk, "c", peerOpts{models: map[string][]byte{"tiny": model}, boot: a.node.Addrs()})
	b := startPeer(t, psk, "b", peerOpts{boot: a.node.Addrs()})
	waitFor(t, "b hears both holders", 15*time.Second, func() bool { return holdersOf(b, "tiny") == 2 })

	if _, _, err := predictVia(t, b.cat, "tiny", 5*time.Second, tinyInputs); err != nil {
		t.Fatal(err)
	}
	hs := b.cat.holders("tiny", 1)
	preferred, other := a, c
	if hs[0].id == c.node.ID() {
		preferred, other = c, a
	}
	// Killed: the host goes at once, without a goodbye heartbeat.
	_ = preferred.node.Host().Close()
	const deadline = 3 * time.Second
	start := time.Now()
	_, via, err := predictVia(t, b.cat, "tiny", deadline, tinyInputs)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("after %s died: %v", preferred.name, err)
	}
	if via != other.node.ID().String() {
		t.Fatalf("served by %s, want %s", via, other.name)
	}
	if took > deadline {
		t.Fatalf("took %v, deadline %v", took, deadline)
	}
	t.Logf("query after the preferred holder died: %v", took)
}

// TestFailoverWhenHolderHangs: a holder that takes the request and never
// answers costs the query half its deadline, not all of it.
func TestFailoverWhenHolderHangs(t *testing.T) {
	psk := newKey(t)
	model := tinyModel(t, 3)
	a := startPeer(t, psk, "a", peerOpts{models: map[string][]byte{"tiny": model}})
	c := startPeer(t, psk, "c", peerOpts{models: map[string][]byte{"tiny": model}, boot: a.node.Addrs()})
	b := startPeer(t, psk, "b", peerOpts{boot: a.node.Addrs()})
	c.queue.Store(5) // a is preferred
	waitFor(t, "b ranks a first", 15*time.Second, func() bool {
		hs := b.cat.holders("tiny", 1)
		return len(hs) == 2 && hs[0].id == a.node.ID()
	})
	if _, _, err := predictVia(t, b.cat, "tiny", 5*time.Second, tinyInputs); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a.node.Host().SetStreamHandler(a.node.Protocol(ProtocolName), func(s network.Stream) {
		defer s.Reset()
		<-release
	})
	const deadline = 2 * time.Second
	start := time.Now()
	_, via, err := predictVia(t, b.cat, "tiny", deadline, tinyInputs)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if via != c.node.ID().String() || took > deadline {
		t.Fatalf("served by %s after %v, want c within %v", via, took, deadline)
	}
	if _, off := b.cat.BackedOff(a.node.ID()); !off {
		t.Error("the hanging holder is not backed off")
	}
}

// failing is a catalog whose models all fail in Predict.
type failing struct {
	inference.Catalog
	calls atomic.Int64
}

func (f *failing) Lookup(name string, v int, l string) (inference.Model, error) {
	m, err := f.Catalog.Lookup(name, v, l)
	if err != nil {
		return nil, err
	}
	return failingModel{m, f}, nil
}

type failingModel struct {
	inference.Model
	f *failing
}

func (m failingModel) Predict(context.Context, []inference.Input) ([]inference.Prediction, error) {
	m.f.calls.Add(1)
	return nil, errors.New("disk on fire")
}

// TestBackoff: a holder that errors is skipped until its pause ends, and
// the pause doubles when it fails again.
func TestBackoff(t *testing.T) {
	psk := newKey(t)
	model := tinyModel(t, 4)
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	bad := &failing{}
	a := startPeer(t, psk, "a", peerOpts{models: map[string][]byte{"tiny": model},
		local: func(r *registry.Registry) inference.Catalog { bad.Catalog = r; return bad }})
	c := startPeer(t, psk, "c", peerOpts{models: map[string][]byte{"tiny": model}, boot: a.node.Addrs()})
	b := startPeer(t, psk, "b", peerOpts{boot: a.node.Addrs(), catOpt: Options{Now: clock, Backoff: time.Second, MaxBackoff: 3 * time.Second}})
	c.queue.Store(5) // a, the failing one, is preferred
	waitFor(t, "b ranks a first", 15*time.Second, func() bool {
		hs := b.cat.holders("tiny", 1)
		return len(hs) == 2 && hs[0].id == a.node.ID()
	})

	query := func(want *testPeer) {
		t.Helper()
		_, via, err := predictVia(t, b.cat, "tiny", 5*time.Second, tinyInputs)
		if err != nil {
			t.Fatal(err)
		}
		if via != want.node.ID().String() {
			t.Fatalf("served by %s, want %s", via, want.name)
		}
	}
	pause := func() time.Duration {
		until, ok := b.cat.BackedOff(a.node.ID())
		if !ok {
			t.Fatal("a is not backed off")
		}
		return until.Sub(clock())
	}
	query(c)
	if bad.calls.Load() != 1 || pause() != time.Second {
		t.Fatalf("after one failure: %d calls at a, pause %v", bad.calls.Load(), pause())
	}
	query(c) // a is skipped while paused
	if bad.calls.Load() != 1 {
		t.Fatalf("a was asked while backed off (%d calls)", bad.calls.Load())
	}
	for i, want := range []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second} {
		advance(pause())
		query(c)
		if bad.calls.Load() != int64(i+2) || pause() != want {
			t.Fatalf("failure %d: %d calls, pause %v, want %v", i+2, bad.calls.Load(), pause(), want)
		}
	}
	// Once a works again and its pause is over, it is preferred again.
	a.srv.Close()
	a.srv = Serve(a.node, a.reg, nil)
	t.Cleanup(func() { _ = a.srv.Close() })
	advance(pause())
	query(a)
	if _, off := b.cat.BackedOff(a.node.ID()); off {
		t.Fatal("a success did not end the back-off")
	}
}

func TestRank(t *testing.T) {
	ids := make([]peer.ID, 5)
	for i := range ids {
		ids[i] = peer.ID(fmt.Sprintf("peer-%d", i))
	}
	hs := []holder{
		{id: ids[0], queue: 0, load: 0.1, rtt: 5 * time.Millisecond, backoff: true},
		{id: ids[1], queue: 2, load: 0.0, rtt: time.Millisecond},
		{id: ids[2], queue: 0, load: 0.52, rtt: time.Millisecond},
		{id: ids[3], queue: 0, load: 0.11, rtt: 0},
		{id: ids[4], queue: 0, load: 0.15, rtt: 3 * time.Millisecond},
	}
	rank(hs)
	var got []peer.ID
	for _, h := range hs {
		got = append(got, h.id)
	}
	// 4 and 3 tie on queue and load step; 4 has a known RTT.
	want := []peer.ID{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rank %v, want %v", got, want)
	}
}
