package shards

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
)

// TestDiskStoreReadsOnDemand: a store with a directory keeps no shard
// bytes in memory, reads them on Get, and drops a file that was corrupted
// after the start instead of handing it out.
func TestDiskStoreReadsOnDemand(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Put(bytes.Repeat([]byte("a"), 4096))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put([]byte("shard b"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.shards) != 0 {
		t.Fatalf("disk store holds %d shards in memory", len(s.shards))
	}
	s2, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.shards) != 0 || len(s2.IDs()) != 2 {
		t.Fatalf("reopened store: %d in memory, ids %v", len(s2.shards), s2.IDs())
	}
	if got, ok := s2.Get(a); !ok || len(got) != 4096 {
		t.Fatalf("Get(a) = %d bytes, %v", len(got), ok)
	}
	if err := os.WriteFile(filepath.Join(dir, b.String()), []byte("rotted"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.Get(b); ok {
		t.Fatal("a shard corrupted on disk was handed out")
	}
	if s2.Has(b) {
		t.Fatal("a corrupted shard is still listed")
	}
	if _, err := os.Stat(filepath.Join(dir, b.String())); !os.IsNotExist(err) {
		t.Fatalf("corrupted file left: %v", err)
	}
}

// TestResponseDeclaringHugeSizeAllocatesLittle: a reply that declares the
// largest shard and then stops costs what arrived, not what it declared.
func TestResponseDeclaringHugeSizeAllocatesLittle(t *testing.T) {
	var msg bytes.Buffer
	msg.WriteByte(statusOK)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], MaxShardBytes)
	msg.Write(n[:])
	msg.WriteString("only these bytes")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readResponse(bytes.NewReader(msg.Bytes()))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("err = %v, want truncated", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("a %d-byte reply declaring %d bytes allocated %d bytes", msg.Len(), MaxShardBytes, grew)
	}
}

// TestFetchAnySharesTheDeadline: a first holder that takes the request
// and never answers (a hung peer, one across a partition) gets its share
// of the deadline, not all of it, and the next holder serves the shard.
func TestFetchAnySharesTheDeadline(t *testing.T) {
	old := minHolderShare
	minHolderShare = 100 * time.Millisecond
	defer func() { minHolderShare = old }()
	psk := make(pnet.PSK, 32)
	hung, good, client := newHost(t, psk), newHost(t, psk), newHost(t, psk)
	hung.SetStreamHandler(testProto, func(s network.Stream) {
		<-t.Context().Done() // reads nothing, answers nothing
		s.Reset()
	})
	store, _ := NewStore("")
	Serve(good, testProto, store)
	id, err := store.Put([]byte("the shard"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, h := range []host.Host{hung, good} {
		if err := client.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	b, from, err := FetchAny(ctx, client, testProto, []peer.ID{hung.ID(), good.ID()}, id)
	if err != nil || from != good.ID() || string(b) != "the shard" {
		t.Fatalf("FetchAny = %q from %s, %v", b, from, err)
	}
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("took %v: the hung holder used up the deadline", took)
	}
}
