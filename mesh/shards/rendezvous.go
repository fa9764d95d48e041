package shards

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ID names a shard by the SHA-256 of its bytes.
type ID [sha256.Size]byte

// Sum returns the ID of data.
func Sum(data []byte) ID { return ID(sha256.Sum256(data)) }

// String returns the hex form of the id.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 hex digits, for logs.
func (id ID) Short() string { return id.String()[:8] }

// ParseID reads the hex form written by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("shard id %q: want %d hex digits, got %d", s, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(strings.ToLower(s))); err != nil {
		return id, fmt.Errorf("shard id %q: %w", s, err)
	}
	return id, nil
}

// weight is the rendezvous score of (shard, member): the first 8 bytes of
// SHA-256(shard id ‖ peer id). Every peer computes the same score.
func weight(shard ID, member peer.ID) uint64 {
	h := sha256.New()
	h.Write(shard[:])
	h.Write([]byte(member))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// Owners returns the r members with the highest rendezvous weight for shard,
// best first. With fewer than r members it returns them all. The result does
// not depend on the order of members; members is not modified.
func Owners(shard ID, members []peer.ID, r int) []peer.ID {
	type scored struct {
		id peer.ID
		w  uint64
	}
	all := make([]scored, 0, len(members))
	for _, m := range members {
		if slices.ContainsFunc(all, func(s scored) bool { return s.id == m }) {
			continue // a member listed twice still owns one slot
		}
		all = append(all, scored{m, weight(shard, m)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.w != b.w {
			if a.w > b.w {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.id), string(b.id))
	})
	if r > len(all) {
		r = len(all)
	}
	out := make([]peer.ID, r)
	for i := range out {
		out[i] = all[i].id
	}
	return out
}

// Owns reports whether self is among the r owners of shard.
func Owns(self peer.ID, shard ID, members []peer.ID, r int) bool {
	return slices.Contains(Owners(shard, members, r), self)
}
