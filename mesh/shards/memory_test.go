package shards

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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
