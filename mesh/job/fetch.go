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

// refresh decides what this peer trains on among members and gets it: the
// shards it is first owner of ("primary"; with more peers than shards,
// any it owns). Only the first missing primary shard is fetched before
// training starts; the rest stream in behind it on a background fetcher
// (startFetching), primary shards first, then the replicas this peer owns
// but does not train on, and the trainer adds each primary shard to its
// data as it arrives (absorb). With two peers and replication 2 every
// shard is on both peers, but each trains on half: the second node used to
// fetch all 60 MNIST shards (47 MB, 2-13 s) before its first step, longer
// than the whole job trains. A shard no holder can serve is skipped (and
// logged): training goes on with the rest.
func (r *runner) refresh(ctx context.Context, members []peer.ID) error {
	r.stopFetching()
	plan := shards.MakePlan(r.m.node.ID(), r.ids, members, r.spec.Replication, r.m.shards.Has,
		func(shards.ID) []peer.ID { return nil })
	var want []shards.ID
	for _, id := range plan.Own {
		if owners := shards.Owners(id, members, r.spec.Replication); owners[0] == r.m.node.ID() {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		want = plan.Own // more peers than shards: train on whatever this peer owns
	}
	// Fetch order: the shards trained on first, in the order of want,
	// then the replicas.
	var order []shards.ID
	for _, id := range plan.Fetch {
		if slices.Contains(want, id) {
			order = append(order, id)
		}
	}
	for _, id := range plan.Fetch {
		if !slices.Contains(want, id) {
			order = append(order, id)
		}
	}
	if r.local == nil || !slices.Equal(want, r.want) {
		r.want, r.primary = want, nil
		r.local = datasetOf(nil, r.manifest.SampleShape, r.manifest.Labels)
	}
	// Take what is held already; then, with nothing to train on, fetch
	// until one shard to train on is here.
	if err := r.absorb(); err != nil {
		return err
	}
	for len(order) > 0 && r.local.N == 0 && slices.Contains(want, order[0]) {
		r.setState(StateFetching)
		id := order[0]
		order = order[1:]
		if err := r.fetch(ctx, id, members); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Warn("shard not fetched", "shard", id.Short(), "err", err)
			continue
		}
		if err := r.absorb(); err != nil {
			return err
		}
	}
	r.startFetching(ctx, order, members)
	r.log.Debug("local data", "shards", len(r.primary), "of", len(want), "rows", r.local.N, "streaming", len(order))
	return nil
}

// startFetching fetches order in the background, one shard at a time (so
// at most one shard beyond the store is in memory), until done or
// stopFetching. Fetching runs beside training: on one core it takes the
// trainer's time slices, but the first steps need not wait for it.
func (r *runner) startFetching(ctx context.Context, order []shards.ID, members []peer.ID) {
	if len(order) == 0 {
		return
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	r.fetchStop, r.fetchDone = func() { cancel(); <-done }, done
	members = slices.Clone(members)
	go func() {
		defer close(done)
		for _, id := range order {
			if err := r.fetch(fctx, id, members); err != nil {
				if fctx.Err() != nil {
					return
				}
				r.log.Warn("shard not fetched", "shard", id.Short(), "err", err)
			}
		}
	}()
}

// stopFetching ends the background fetcher, if any, and waits for it.
func (r *runner) stopFetching() {
	if r.fetchStop != nil {
		r.fetchStop()
		r.fetchStop, r.fetchDone = nil, nil
	}
}

// awaitFetching waits for the background fetcher to get every shard it
// was given. The replicas a peer owns but does not train on are the
// job's durability promise (a shard survives Replication-1 peers
// leaving), not training data: cancelling them when training ended left
// a third of MNIST's shards on the submitter alone (testnet's
// ShardsLost), so a job is done only once they are here too. They were
// fetched beside the final agreement, so this rarely waits; the state
// stays where the agreement left it (states only move forward).
func (r *runner) awaitFetching(ctx context.Context) error {
	if r.fetchDone == nil {
		return nil
	}
	select {
	case <-r.fetchDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	r.stopFetching()
	return nil
}

// absorb adds to the local training set the shards to train on that have
// arrived since the last call, in the order of r.want. It reports whether
// the set grew through r.local.N; the caller draws a new permutation.
func (r *runner) absorb() error {
	if len(r.primary) == len(r.want) {
		return nil
	}
	for _, id := range r.want {
		if slices.Contains(r.primary, id) || !r.m.shards.Has(id) {
			continue
		}
		rows, err := r.decode(id)
		if err != nil {
			return err
		}
		r.local.X = append(r.local.X, rows.X...)
		r.local.Y = append(r.local.Y, rows.Y...)
		r.local.N += rows.N()
		r.primary = append(r.primary, id)
	}
	return nil
}
