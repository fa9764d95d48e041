package edgepull

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"

	"github.com/dustin/go-humanize"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/pull"
	"github.com/shoalmesh/shoal/serve/registry"
)

// Puller pulls models for an edge peer. It is safe for concurrent use;
// pulls of one name at once may both publish (the newer version wins).
type Puller struct {
	node  *mesh.Node
	store *modelstore.Store
	reg   *registry.Registry
	log   *slog.Logger
	opts  []pull.Option
}

// New returns a Puller fetching over n into store, served and budgeted by
// reg (whose store is store). log may be nil.
func New(n *mesh.Node, store *modelstore.Store, reg *registry.Registry, log *slog.Logger, opts ...pull.Option) *Puller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Puller{node: n, store: store, reg: reg, log: log, opts: slices.Clone(opts)}
}

// source is one place to try: a peer, and the ref to ask it for.
type source struct {
	peer peer.ID
	ref  string
	int8 bool // its heartbeats say the newest version it serves is int8
}

// Pull fetches name for serving here, and publishes its int8 form as the
// next local version. With peerID it asks that peer for ref. Otherwise,
// for the newest version (ref ""), it first tries the live peers that
// announce serving name as int8, nearest first, asking each for the
// version it serves; then, and for any other ref, the peers whose
// heartbeats say they hold name. A float file is quantized here. The
// Result says which: Int8 always, QuantizedHere when this node quantized
// it. Refusals for want of memory wrap registry.ErrOverBudget and end the
// pull (the next holder's file would be no smaller).
func (p *Puller) Pull(ctx context.Context, name, ref, peerID string) (pull.Result, error) {
	srcs, err := p.sources(name, ref, peerID)
	if err != nil {
		return pull.Result{Name: name}, err
	}
	opts := append(slices.Clone(p.opts), pull.WithAdmit(func(n int64) error { return p.admitSize(name, n) }))
	h, proto := p.node.Host(), p.node.Protocol(pull.ProtocolName)
	var errs []error
	for _, s := range srcs {
		res, tmp, err := pull.Download(ctx, h, proto, s.peer, name, s.ref, p.store.Root(), opts...)
		if err == nil {
			res, err = p.publish(name, res, tmp)
			_ = os.Remove(tmp) // published by copy or rename, or refused
			if err == nil {
				return res, nil
			}
		}
		if errors.Is(err, registry.ErrOverBudget) || ctx.Err() != nil {
			return pull.Result{Name: name}, err
		}
		p.log.Debug("edge pull: source failed", "model", name, "peer", s.peer.String(), "ref", s.ref, "err", err)
		errs = append(errs, err)
	}
	return pull.Result{Name: name}, errors.Join(errs...)
}

// sources lists where to pull name at ref from, in order.
func (p *Puller) sources(name, ref, peerID string) ([]source, error) {
	self := p.node.ID()
	if peerID != "" {
		id, err := peer.Decode(peerID)
		if err != nil {
			return nil, fmt.Errorf("peer %q: %w", peerID, err)
		}
		if id == self {
			return nil, fmt.Errorf("peer %s is this node", id.ShortString())
		}
		return []source{{peer: id, ref: ref}}, nil
	}
	peers := p.node.Peers()
	var out []source
	if ref == "" {
		out = int8Servers(peers, name, self)
	}
	for _, id := range pull.Holders(peers, name) {
		if id != self {
			out = append(out, source{peer: id, ref: ref})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pull %s: %w", name, pull.ErrNoHolder)
	}
	return out, nil
}

// int8Servers are the live peers that announce serving name with int8
// weights, nearest first (an unknown RTT last), each with the version it
// serves.
func int8Servers(peers []mesh.PeerInfo, name string, self peer.ID) []source {
	type cand struct {
		source
		rtt int64
	}
	var cs []cand
	for _, pi := range peers {
		if !pi.Alive {
			continue
		}
		id, err := peer.Decode(pi.ID)
		if err != nil || id == self {
			continue
		}
		for _, sm := range pi.Served {
			if sm.Name == name && sm.Int8 && len(sm.Versions) > 0 {
				cs = append(cs, cand{source{peer: id, ref: strconv.Itoa(sm.Versions[0]), int8: true}, int64(pi.RTT)})
			}
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.rtt <= 0 && b.rtt <= 0:
			return 0
		case a.rtt <= 0:
			return 1
		case b.rtt <= 0:
			return -1
		}
		return cmp.Compare(a.rtt, b.rtt)
	})
	out := make([]source, len(cs))
	for i, c := range cs {
		out[i] = c.source
	}
	return out
}

// admitSize refuses, before the transfer, a file that alone would not fit
// beside what is loaded: loading it takes at least its size.
func (p *Puller) admitSize(name string, n int64) error {
	budget, used := p.reg.MemoryUse()
	if budget <= 0 || used+n <= budget {
		return nil
	}
	return fmt.Errorf("%w: %s is a file of %s, and the memory budget is %s with %s already used by the loaded models, leaving %s (not transferred)",
		registry.ErrOverBudget, name, ibytes(n), ibytes(budget), ibytes(used), ibytes(max(budget-used, 0)))
}

func ibytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// quantizeExtra is what quantizing a float model of footprint fp needs
// beside its load: the int8 copy (its weights take about 0.28× the float
// model's loaded Weights, packing included) and that copy's encoded file
// (about 0.13× of Weights, plus the header again: a text model's
// vocabulary). Half of Weights and half of Meta (2.5× the header) cover
// both; TestQuantizeFootprint measures it on mlp, cnn and lstm-text.
func quantizeExtra(fp registry.Footprint) int64 { return fp.Weights/2 + fp.Meta/2 }

// publish weighs, checks and publishes the downloaded file at tmp (the
// caller removes it): an int8 file as it is, a float one quantized. It
// then has the registry load it, and takes the version out of the store
// again when the load is refused for want of memory.
func (p *Puller) publish(name string, res pull.Result, tmp string) (pull.Result, error) {
	batch := p.reg.MaxBatchSize()
	fp, err := registry.FileFootprint(tmp, batch)
	if err != nil {
		return res, fmt.Errorf("pull %s from %s: the file does not load: %w", name, res.Peer.ShortString(), err)
	}
	if fp.Int8 {
		if err := p.reg.CheckBudget(name, fp, 0, ""); err != nil {
			return res, err
		}
		if _, err := artifact.Load(tmp); err != nil {
			return res, fmt.Errorf("pull %s from %s: the file does not load: %w", name, res.Peer.ShortString(), err)
		}
		if res.Version, err = p.store.PublishFile(name, tmp); err != nil {
			return res, err
		}
	} else {
		if err := p.reg.CheckBudget(name, fp, quantizeExtra(fp), "quantizing it here"); err != nil {
			return res, err
		}
		a, err := artifact.Load(tmp)
		if err != nil {
			return res, fmt.Errorf("pull %s from %s: the file does not load: %w", name, res.Peer.ShortString(), err)
		}
		if a.Model.Quantized() { // the header said float; the file disagrees
			return res, fmt.Errorf("pull %s from %s: the file's metadata and weights disagree on int8", name, res.Peer.ShortString())
		}
		q, err := a.Quantize(nn.QuantizeOptions{})
		if err != nil {
			return res, fmt.Errorf("quantize %s: %w", name, err)
		}
		b, _, err := q.Encode()
		if err != nil {
			return res, fmt.Errorf("quantize %s: %w", name, err)
		}
		qh, err := modelfile.DecodeHeader(b, int64(len(b)), modelfile.Limits{})
		if err != nil {
			return res, fmt.Errorf("quantize %s: %w", name, err)
		}
		qfp, err := registry.HeaderFootprint(qh, batch)
		if err != nil {
			return res, fmt.Errorf("quantize %s: %w", name, err)
		}
		if err := p.reg.CheckBudget(name, qfp, 0, "serving its int8 form"); err != nil {
			return res, err
		}
		if res.Version, err = p.store.Publish(name, b); err != nil {
			return res, err
		}
		res.QuantizedHere = true
		p.log.Info("quantized a pulled model here", "model", name, "version", res.Version,
			"float_bytes", res.Bytes, "int8_bytes", len(b), "peer", res.Peer.String())
	}
	res.Int8 = true
	// Asked to serve it: a model the operator had unloaded serves again.
	if p.reg.Held(name) {
		if err := p.reg.Serve(name); err != nil {
			return res, err
		}
	} else if err := p.reg.Rescan(); err != nil {
		return res, err
	}
	if _, err := p.reg.Lookup(name, res.Version, ""); errors.Is(err, registry.ErrOverBudget) {
		_ = p.store.Remove(name, res.Version)
		_ = p.reg.Rescan()
		return res, err
	}
	return res, nil
}
