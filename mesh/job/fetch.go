package job

import (
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/mesh/shards"
)

// holders lists peers to ask for a shard: live members known to hold it
// first, then the other live members, then the submitter if it is alive.
// Peers that said they hold it but are gone from the peer table are not
// asked: across a partition a request to one hangs on a connection that
// has not noticed yet, and a whole half of a split mesh waited out the
// fetch's budget on them (make soak's partition scenario: 25-37 s stalls).
// A shard only gone peers hold fails at once and is fetched again at the
// next refresh, once they are back.
func (r *runner) holders(id shards.ID, members []peer.ID) []peer.ID {
	hex := id.String()
	alive := func(p peer.ID) bool {
		info, ok := r.m.node.Peer(p)
		return slices.Contains(members, p) || (ok && info.Alive)
	}
	var known, rest []peer.ID
	for p, st := range r.m.memberStatuses(r.spec.ID) {
		if slices.Contains(st.Have, hex) && alive(p) {
			known = append(known, p)
		}
	}
	slices.Sort(known) // map order would make runs differ
	for _, p := range members {
		if !slices.Contains(known, p) {
			rest = append(rest, p)
		}
	}
	out := append(known, rest...)
	if sub, err := peer.Decode(r.spec.Submitter); err == nil && !slices.Contains(out, sub) && alive(sub) {
		out = append(out, sub)
	}
	return out
}

func (r *runner) fetch(ctx context.Context, id shards.ID, members []peer.ID) error {
	if r.m.shards.Has(id) {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	b, from, err := shards.FetchAny(fctx, r.m.node.Host(), r.m.node.Protocol(shards.ProtocolName), r.holders(id, members), id)
	if err != nil {
		return err
	}
	r.log.Debug("fetched shard", "shard", id.Short(), "from", from.ShortString())
	return r.m.shards.PutVerified(id, b)
}

func (r *runner) loadProbe(ctx context.Context, members []peer.ID) error {
	id, err := shards.ParseID(r.manifest.Probe.ID)
	if err != nil {
		return err
	}
	if err := r.fetch(ctx, id, members); err != nil {
		return fmt.Errorf("probe shard: %w", err)
	}
	rows, err := r.decode(id)
	if err != nil {
		return err
	}
	r.probe = datasetOf([]shards.Rows{rows}, r.manifest.SampleShape, r.manifest.Labels)
	return nil
}

func (r *runner) decode(id shards.ID) (shards.Rows, error) {
	b, ok := r.m.shards.Get(id)
	if !ok {
		return shards.Rows{}, fmt.Errorf("shard %s not held", id.Short())
	}
	rows, err := shards.DecodeRows(b)
	if err != nil {
		return rows, fmt.Errorf("shard %s: %w", id.Short(), err)
	}
	if want := r.model.InputSize(); rows.Width != want {
		return rows, fmt.Errorf("shard %s: rows of %d values, the model takes %d", id.Short(), rows.Width, want)
	}
	return rows, nil
}

// refresh fetches the shards this peer owns among members and rebuilds the
// local training set when the shards it is first owner of change. A shard
// no holder can serve is skipped (and logged): training goes on with the rest.
func (r *runner) refresh(ctx context.Context, members []peer.ID) error {
	plan := shards.MakePlan(r.m.node.ID(), r.ids, members, r.spec.Replication, r.m.shards.Has,
		func(shards.ID) []peer.ID { return nil })
	if len(plan.Fetch) > 0 {
		r.setState(StateFetching)
	}
	for _, id := range plan.Fetch {
		if err := r.fetch(ctx, id, members); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Warn("shard not fetched", "shard", id.Short(), "err", err)
		}
	}
	var primary []shards.ID
	for _, id := range plan.Own {
		if owners := shards.Owners(id, members, r.spec.Replication); owners[0] == r.m.node.ID() && r.m.shards.Has(id) {
			primary = append(primary, id)
		}
	}
	if len(primary) == 0 {
		// More peers than shards: train on whatever owned shard is held.
		for _, id := range plan.Own {
			if r.m.shards.Has(id) {
				primary = append(primary, id)
			}
		}
	}
	if r.local != nil && slices.Equal(primary, r.primary) {
		return nil
	}
	var rows []shards.Rows
	for _, id := range primary {
		rs, err := r.decode(id)
		if err != nil {
			return err
		}
		rows = append(rows, rs)
	}
	r.primary = primary
	r.local = datasetOf(rows, r.manifest.SampleShape, r.manifest.Labels)
	r.log.Debug("local data", "shards", len(primary), "rows", r.local.N)
	return nil
}
