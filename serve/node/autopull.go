package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/pull"
	"github.com/shoalmesh/shoal/serve/registry"
)

// Retry intervals of a Config.Pull: a peer that holds the model may join
// any time (a device booted before the rest of the mesh), so the pull is
// tried again, soon at first, then every half minute.
const (
	firstPullRetry = time.Second
	maxPullRetry   = 30 * time.Second
)

// CheckPullRef checks a Config.Pull entry, NAME or NAME@REF.
func CheckPullRef(s string) error {
	name, ref, _ := strings.Cut(s, "@")
	if err := modelstore.ValidName(name); err != nil {
		return err
	}
	if ref == "" || ref == "latest" || modelstore.ValidLabel(ref) == nil {
		return nil
	}
	if v, err := strconv.Atoi(ref); err != nil || v < 1 || strconv.Itoa(v) != ref {
		return fmt.Errorf("%q: after @ give a version number from 1, a label or latest", s)
	}
	return nil
}

// pullWhenHeld pulls name[@ref] through models (the node's own service,
// so the edge form applies) unless the store holds it, retrying until it
// comes, a budget refuses it, or ctx ends.
func (n *Node) pullWhenHeld(ctx context.Context, models serve.ModelService, s string) {
	name, ref, _ := strings.Cut(s, "@")
	if ref == "latest" {
		ref = ""
	}
	log := n.log.With("part", "models", "model", name)
	if vs, err := n.models.Versions(name); err == nil && len(vs) > 0 {
		log.Info("--serve: the store holds it already; not pulled", "versions", len(vs))
		return
	}
	wait := firstPullRetry
	for {
		res, err := models.Pull(ctx, name, ref, "")
		switch {
		case err == nil:
			log.Info("--serve: pulled", "version", res.Version, "from", res.Peer, "int8", res.Int8, "quantized_here", res.QuantizedHere)
			return
		case ctx.Err() != nil:
			return
		case errors.Is(err, registry.ErrOverBudget):
			log.Error("--serve: the model does not fit this node's memory budget; not retried", "err", err)
			return
		case errors.Is(err, pull.ErrNoHolder):
			log.Debug("--serve: no peer holds it yet", "retry_in", wait)
		default:
			log.Warn("--serve: pull failed", "err", err, "retry_in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxPullRetry)
	}
}
