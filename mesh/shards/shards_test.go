package shards

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
)

func fakePeers(n int) []peer.ID {
	out := make([]peer.ID, n)
	for i := range out {
		out[i] = peer.ID(fmt.Sprintf("peer-%02d", i))
	}
	return out
}

func shardIDs(n int) []ID {
	out := make([]ID, n)
	for i := range out {
		out[i] = Sum([]byte(fmt.Sprintf("shard %d", i)))
	}
	return out
}

func TestOwnersDeterministicAndOrderFree(t *testing.T) {
	members := fakePeers(8)
	rev := slices.Clone(members)
	slices.Reverse(rev)
	for _, id := range shardIDs(50) {
		a, b := Owners(id, members, 2), Owners(id, rev, 2)
		if !slices.Equal(a, b) {
			t.Fatalf("owners depend on member order: %v vs %v", a, b)
		}
		if len(a) != 2 || a[0] == a[1] {
			t.Fatalf("want two distinct owners, got %v", a)
		}
	}
	if got := Owners(shardIDs(1)[0], members[:1], 2); len(got) != 1 {
		t.Fatalf("one member: want 1 owner, got %v", got)
	}
	if got := Owners(shardIDs(1)[0], []peer.ID{"a", "a"}, 2); len(got) != 1 {
		t.Fatalf("duplicate member counted twice: %v", got)
	}
}

// When a member leaves, only shards it owned change owners, and each of
// those keeps its surviving owner: the property that makes churn cheap.
func TestOwnersMinimalMovement(t *testing.T) {
	members := fakePeers(8)
	gone := members[3]
	rest := slices.DeleteFunc(slices.Clone(members), func(p peer.ID) bool { return p == gone })
	moved := 0
	for _, id := range shardIDs(400) {
		before, after := Owners(id, members, 2), Owners(id, rest, 2)
		if !slices.Contains(before, gone) {
			if !slices.Equal(before, after) {
				t.Fatalf("shard %s moved though its owners %v stayed", id.Short(), before)
			}
			continue
		}
		moved++
		for _, o := range before {
			if o != gone && !slices.Contains(after, o) {
				t.Fatalf("surviving owner %s lost shard %s", o, id.Short())
			}
		}
	}
	// 400 shards × 2 owners / 8 members ≈ 100 involve any one member.
	if moved < 60 || moved > 140 {
		t.Fatalf("%d shards involved the leaving member; rendezvous spread looks wrong", moved)
	}
}

func TestOwnersBalanced(t *testing.T) {
	members := fakePeers(8)
	count := map[peer.ID]int{}
	for _, id := range shardIDs(800) {
		for _, o := range Owners(id, members, 2) {
			count[o]++
		}
	}
	for _, m := range members {
		if c := count[m]; c < 140 || c > 260 { // mean 200
			t.Fatalf("member %s owns %d of 1600 slots: unbalanced", m, c)
		}
	}
}

func TestMakePlan(t *testing.T) {
	members := fakePeers(4)
	ids := shardIDs(40)
	self := members[0]
	held := map[ID]bool{}
	for _, id := range ids[:20] {
		held[id] = true
	}
	everyoneHolds := func(ID) []peer.ID { return members }
	nobodyHolds := func(ID) []peer.ID { return nil }
	p := MakePlan(self, ids, members, 2, func(id ID) bool { return held[id] }, nobodyHolds)
	for _, id := range p.Fetch {
		if held[id] || !Owns(self, id, members, 2) {
			t.Fatalf("plan fetches %s which self holds or does not own", id.Short())
		}
	}
	if len(p.Drop) != 0 {
		t.Fatalf("dropped %d shards whose owners were not known to hold them", len(p.Drop))
	}
	p = MakePlan(self, ids, members, 2, func(id ID) bool { return held[id] }, everyoneHolds)
	for _, id := range p.Drop {
		if Owns(self, id, members, 2) || !held[id] {
			t.Fatalf("plan drops owned or unheld shard %s", id.Short())
		}
	}
	if len(p.Drop) == 0 {
		t.Fatal("nothing droppable although every owner holds every shard")
	}
}

func TestRowsRoundTrip(t *testing.T) {
	r := Rows{Width: 3, X: []float32{1, 2, 3, 4, 5, 6}, Y: []float32{0, 1}}
	b, err := EncodeRows(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRows(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 3 || !slices.Equal(got.X, r.X) || !slices.Equal(got.Y, r.Y) {
		t.Fatalf("round trip: got %+v", got)
	}
	b2, _ := EncodeRows(r)
	if !bytes.Equal(b, b2) {
		t.Fatal("encoding is not deterministic")
	}
}

func TestDecodeRowsMalformed(t *testing.T) {
	good, _ := EncodeRows(Rows{Width: 2, X: []float32{1, 2}, Y: []float32{1}})
	zeroWidth := slices.Clone(good)
	binary.LittleEndian.PutUint32(zeroWidth[4:], 0)
	huge := slices.Clone(good)
	binary.LittleEndian.PutUint32(huge[8:], 1<<31)
	// (2^32−1+1)·2^30·4 wraps to 0 in uint64: an empty body must not match.
	wraps := []byte("SHR1\xff\xff\xff\xff\x00\x00\x00\x40")
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short header", []byte("SHR1\x01")},
		{"bad magic", append([]byte("XXXX"), good[4:]...)},
		{"truncated body", good[:len(good)-1]},
		{"trailing bytes", append(slices.Clone(good), 0)},
		{"zero width", zeroWidth},
		{"row count beyond body", huge},
		{"size overflows uint64", wraps},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := DecodeRows(c.in); err == nil {
				t.Fatal("accepted malformed rows")
			}
		})
	}
	if _, err := EncodeRows(Rows{Width: 2, X: []float32{1}, Y: []float32{1}}); err == nil {
		t.Fatal("encoded rows whose features do not match the width")
	}
}

func FuzzDecodeRows(f *testing.F) {
	good, _ := EncodeRows(Rows{Width: 2, X: []float32{1, 2, 3, 4}, Y: []float32{0, 1}})
	f.Add(good)
	f.Add([]byte("SHR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRows(b)
		if err != nil {
			return
		}
		again, err := EncodeRows(r)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded rows do not re-encode to the input: %v", err)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	f.Add([]byte{statusOK, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{statusNotFound})
	f.Add([]byte{statusOK, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		data, err := readResponse(bytes.NewReader(b))
		if err == nil && len(data) > len(b) {
			t.Fatalf("read %d bytes from %d", len(data), len(b))
		}
	})
}

func TestStorePersistsAndVerifies(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Put([]byte("hello shard"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutVerified(id, []byte("tampered")); err == nil {
		t.Fatal("PutVerified accepted bytes with another hash")
	}
	// Corrupt a second shard on disk: reopening keeps the good one and
	// reports the bad one.
	bad := Sum([]byte("original"))
	if err := os.WriteFile(filepath.Join(dir, bad.String()), []byte("changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := NewStore(dir)
	if err == nil {
		t.Fatal("corrupt shard on disk not reported")
	}
	if got, ok := s2.Get(id); !ok || string(got) != "hello shard" {
		t.Fatal("restarted store lost a good shard")
	}
	if s2.Has(bad) {
		t.Fatal("restarted store kept a corrupt shard")
	}
	if err := s2.Drop(id); err != nil || s2.Has(id) {
		t.Fatalf("drop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, id.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("dropped shard still on disk")
	}
}

func newHost(t *testing.T, psk pnet.PSK) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.PrivateNetwork(psk),
		libp2p.NoListenAddrs,
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// testProto is the shard protocol under a made-up mesh id.
const testProto protocol.ID = "/shoal/test/" + ProtocolName

func TestFetchOverLibp2p(t *testing.T) {
	psk := make(pnet.PSK, 32)
	if _, err := rand.Read(psk); err != nil {
		t.Fatal(err)
	}
	a, b, c := newHost(t, psk), newHost(t, psk), newHost(t, psk)
	storeA, _ := NewStore("")
	Serve(a, testProto, storeA)
	liar := &Store{shards: map[ID][]byte{}}
	Serve(c, testProto, liar)
	rng := mrand.New(mrand.NewPCG(1, 2))
	payload := make([]byte, 3<<20+17)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	id, err := storeA.Put(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, h := range []host.Host{a, c} {
		if err := b.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Fetch(ctx, b, testProto, c.ID(), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch from a non-holder: want ErrNotFound, got %v", err)
	}
	liar.mu.Lock()
	liar.shards[id] = []byte("not the shard you asked for")
	liar.mu.Unlock()
	if _, err := Fetch(ctx, b, testProto, c.ID(), id); err == nil {
		t.Fatal("fetch accepted bytes that do not match the shard id")
	}
	got, from, err := FetchAny(ctx, b, testProto, []peer.ID{c.ID(), a.ID()}, id)
	if err != nil {
		t.Fatal(err)
	}
	if from != a.ID() || !bytes.Equal(got, payload) {
		t.Fatalf("FetchAny: wrong bytes or peer %s", from)
	}
}
