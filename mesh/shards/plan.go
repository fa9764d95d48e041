package shards

import "github.com/libp2p/go-libp2p/core/peer"

// Plan is what one peer should do with the shards of a job, given the current
// members.
type Plan struct {
	// Fetch lists shards self owns but does not hold.
	Fetch []ID
	// Drop lists shards self holds, no longer owns, and whose every current
	// owner is known to hold: dropping them cannot lose data.
	Drop []ID
	// Own lists every shard self owns (held or not), in the order of all.
	Own []ID
}

// MakePlan computes self's plan for the shards all under rendezvous ownership
// among members with replication r. has reports whether self holds a shard;
// holders(id) returns the peers known (from "have" notices) to hold it.
func MakePlan(self peer.ID, all []ID, members []peer.ID, r int, has func(ID) bool, holders func(ID) []peer.ID) Plan {
	var p Plan
	for _, id := range all {
		owners := Owners(id, members, r)
		mine := false
		for _, o := range owners {
			if o == self {
				mine = true
				break
			}
		}
		switch {
		case mine:
			p.Own = append(p.Own, id)
			if !has(id) {
				p.Fetch = append(p.Fetch, id)
			}
		case has(id) && allHold(owners, holders(id)):
			p.Drop = append(p.Drop, id)
		}
	}
	return p
}

func allHold(owners, holders []peer.ID) bool {
	if len(owners) == 0 {
		return false
	}
	for _, o := range owners {
		found := false
		for _, h := range holders {
			if h == o {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
