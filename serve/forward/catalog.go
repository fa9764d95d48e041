package forward

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/inference"
)

// Defaults of a Catalog, with their reasons.
const (
	// DefaultBackoff is the first pause of a peer after a failure; it
	// doubles with each failure in a row, up to DefaultMaxBackoff. A
	// success ends it.
	DefaultBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultMetadataTimeout bounds fetching a remote model's signature in
	// Lookup, all holders together (Lookup has no context of its own).
	DefaultMetadataTimeout = 5 * time.Second
	// maxSigCache bounds the cached signatures; past it the cache starts
	// over.
	maxSigCache = 1024
)

// Options configure a Catalog. The zero value is valid.
type Options struct {
	// Logger receives one route line per forwarded request (debug level)
	// and failed attempts; nil discards them.
	Logger *slog.Logger
	// Timeout bounds a forwarded request whose context has no deadline;
	// default DefaultTimeout.
	Timeout time.Duration
	// MetadataTimeout bounds a signature fetch in Lookup; default
	// DefaultMetadataTimeout.
	MetadataTimeout time.Duration
	// Backoff and MaxBackoff shape the pause of a failing peer; defaults
	// DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Now is the clock of the back-off; default time.Now.
	Now func() time.Time
}

// Catalog is an inference.Catalog that answers from the local catalog when
// it can and otherwise from the peers that announce the model. It is safe
// for concurrent use.
type Catalog struct {
	local inference.Catalog
	peers func() []mesh.PeerInfo
	h     host.Host
	proto protocol.ID
	opt   Options
	log   *slog.Logger

	mu      sync.Mutex
	backoff map[peer.ID]backoffState
	sigs    map[sigKey]metadata
}

type backoffState struct {
	fails int
	until time.Time
}

type sigKey struct {
	peer    peer.ID
	name    string
	version int
}

// NewCatalog wraps local (the node's own models) with n's peers.
func NewCatalog(n *mesh.Node, local inference.Catalog, opt Options) *Catalog {
	return newCatalog(local, n.Peers, n.Host(), n.Protocol(ProtocolName), opt)
}

func newCatalog(local inference.Catalog, peers func() []mesh.PeerInfo, h host.Host, proto protocol.ID, opt Options) *Catalog {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.MetadataTimeout <= 0 {
		opt.MetadataTimeout = DefaultMetadataTimeout
	}
	if opt.Backoff <= 0 {
		opt.Backoff = DefaultBackoff
	}
	if opt.MaxBackoff < opt.Backoff {
		opt.MaxBackoff = max(DefaultMaxBackoff, opt.Backoff)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Catalog{local: local, peers: peers, h: h, proto: proto, opt: opt, log: opt.Logger,
		backoff: map[peer.ID]backoffState{}, sigs: map[sigKey]metadata{}}
}

// Local is the wrapped catalog.
func (c *Catalog) Local() inference.Catalog { return c.local }

// Names lists the local models and those the peers announce, sorted.
func (c *Catalog) Names() []string {
	names := c.local.Names()
	for _, p := range c.peers() {
		for _, m := range p.Served {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Versions is the local catalog's answer for a model held here; for one
// that is not, the versions the peers announce, newest first, each
// AVAILABLE.
func (c *Catalog) Versions(name string) ([]inference.VersionStatus, error) {
	vs, err := c.local.Versions(name)
	if err == nil || !errors.Is(err, inference.ErrModelNotFound) {
		return vs, err
	}
	remote := announced(c.peers(), name)
	if len(remote) == 0 {
		return nil, err
	}
	out := make([]inference.VersionStatus, len(remote))
	for i, v := range remote {
		out[i] = inference.VersionStatus{Version: v, State: inference.StateAvailable}
	}
	return out, nil
}

// Labels is the local catalog's answer for a model held here; for one that
// is not, the labels of the best holder (a metadata request).
func (c *Catalog) Labels(name string) (map[string]int, error) {
	ls, err := c.local.Labels(name)
	if err == nil || !errors.Is(err, inference.ErrModelNotFound) {
		return ls, err
	}
	if len(announced(c.peers(), name)) == 0 {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.MetadataTimeout)
	defer cancel()
	md, _, rerr := c.fetchMetadata(ctx, name, 0, "", c.holders(name, 0))
	if rerr != nil {
		return nil, rerr
	}
	return md.Labels, nil
}

// Lookup returns the local model when the local catalog has it (or has it
// loading and no peer serves it); otherwise a remote model whose Predict
// goes to the peers that announce it. A remote model's signature comes from
// its first holder that answers a metadata request, cached per (peer,
// model, version). For version 0 and no label the remote version is the
// newest any peer announces; a label is resolved by a holder.
func (c *Catalog) Lookup(name string, version int, label string) (inference.Model, error) {
	m, err := c.local.Lookup(name, version, label)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, inference.ErrModelNotFound) && !errors.Is(err, inference.ErrVersionNotFound) &&
		!errors.Is(err, inference.ErrNotReady) {
		return nil, err
	}
	peers := c.peers()
	vs := announced(peers, name)
	if len(vs) == 0 {
		return nil, err // nobody else has it: the local answer stands
	}
	if version > 0 && !slices.Contains(vs, version) && label == "" {
		if errors.Is(err, inference.ErrModelNotFound) {
			return nil, fmt.Errorf("%w: %s version %d (the peers serving %s have versions %v)", inference.ErrVersionNotFound, name, version, name, vs)
		}
		return nil, err
	}
	if version == 0 && label == "" {
		version = vs[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.MetadataTimeout)
	defer cancel()
	if label == "" {
		hs := c.holders(name, version)
		if md, ok := c.cachedSig(hs, name, version); ok {
			return &remoteModel{c: c, name: name, version: version, sig: md.Sig}, nil
		}
		md, _, rerr := c.fetchMetadata(ctx, name, version, "", hs)
		if rerr != nil {
			return nil, rerr
		}
		return &remoteModel{c: c, name: name, version: md.Version, sig: md.Sig}, nil
	}
	md, _, rerr := c.fetchMetadata(ctx, name, version, label, c.holders(name, 0))
	if rerr != nil {
		return nil, rerr
	}
	return &remoteModel{c: c, name: name, version: md.Version, sig: md.Sig}, nil
}

// announced lists the versions of name the live peers announce, newest
// first, each once.
func announced(peers []mesh.PeerInfo, name string) []int {
	var vs []int
	for _, p := range peers {
		if !p.Alive {
			continue
		}
		for _, m := range p.Served {
			if m.Name == name {
				vs = append(vs, m.Versions...)
			}
		}
	}
	slices.SortFunc(vs, func(a, b int) int { return cmp.Compare(b, a) })
	return slices.Compact(vs)
}

// holder is one peer that announces a model, with what ranks it.
type holder struct {
	id      peer.ID
	queue   int
	load    float64
	rtt     time.Duration
	backoff bool
}

// holders ranks the live peers announcing name (with version, when > 0).
func (c *Catalog) holders(name string, version int) []holder {
	now := c.opt.Now()
	peers := c.peers()
	c.mu.Lock()
	defer c.mu.Unlock()
	var hs []holder
	for _, p := range peers {
		if !p.Alive {
			continue
		}
		id, err := peer.Decode(p.ID)
		if err != nil || id == c.h.ID() {
			continue
		}
		for _, m := range p.Served {
			if m.Name != name || (version > 0 && !slices.Contains(m.Versions, version)) {
				continue
			}
			b := c.backoff[id]
			hs = append(hs, holder{id: id, queue: m.Queue, load: p.Load, rtt: p.RTT, backoff: now.Before(b.until)})
			break
		}
	}
	rank(hs)
	return hs
}

// rank orders holders: peers not backed off first, then the shortest
// queue, then the lowest load (in steps of 0.1 per core, so noise in the
// load average does not outweigh distance), then the lowest RTT (unknown
// last), then the id.
func rank(hs []holder) {
	slices.SortFunc(hs, func(a, b holder) int {
		if a.backoff != b.backoff {
			if a.backoff {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(a.queue, b.queue); c != 0 {
			return c
		}
		if c := cmp.Compare(math.Floor(a.load*10), math.Floor(b.load*10)); c != 0 {
			return c
		}
		ra, rb := a.rtt, b.rtt
		if ra <= 0 {
			ra = time.Duration(math.MaxInt64)
		}
		if rb <= 0 {
			rb = time.Duration(math.MaxInt64)
		}
		if c := cmp.Compare(ra, rb); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
}

// failed records a failure of id and returns its pause.
func (c *Catalog) failed(id peer.ID) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.backoff[id]
	b.fails++
	d := c.opt.Backoff
	for i := 1; i < b.fails && d < c.opt.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opt.MaxBackoff)
	b.until = c.opt.Now().Add(d)
	c.backoff[id] = b
	return d
}

// succeeded ends id's back-off.
func (c *Catalog) succeeded(id peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.backoff, id)
}

// BackedOff reports whether id is paused after failures, and until when.
func (c *Catalog) BackedOff(id peer.ID) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.backoff[id]
	if !ok || !c.opt.Now().Before(b.until) {
		return time.Time{}, false
	}
	return b.until, true
}

func (c *Catalog) cachedSig(hs []holder, name string, version int) (metadata, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hs {
		if md, ok := c.sigs[sigKey{h.id, name, version}]; ok {
			return md, true
		}
	}
	return metadata{}, false
}

func (c *Catalog) cacheSig(id peer.ID, md metadata) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sigs) >= maxSigCache {
		clear(c.sigs)
	}
	c.sigs[sigKey{id, md.Name, md.Version}] = md
}

// fetchMetadata asks the holders in turn for name's metadata.
func (c *Catalog) fetchMetadata(ctx context.Context, name string, version int, label string, hs []holder) (metadata, peer.ID, error) {
	if len(hs) == 0 {
		return metadata{}, "", fmt.Errorf("%w: no live peer serves %s version %d", inference.ErrNotReady, name, version)
	}
	b, err := encodeRequest(request{Op: opMetadata, Model: name, Version: version, Label: label})
	if err != nil {
		return metadata{}, "", err
	}
	var last error
	for i, h := range hs {
		actx, cancel := attemptContext(ctx, len(hs)-i)
		rs, err := c.exchange(actx, h.id, b)
		cancel()
		if err == nil {
			if rs.Status == statusMetadata {
				c.succeeded(h.id)
				c.cacheSig(h.id, rs.Meta)
				return rs.Meta, h.id, nil
			}
			err = fmt.Errorf("peer %s answered a metadata request with status %d", shortID(h.id.String()), rs.Status)
		}
		last = err
		if !retryable(err) {
			return metadata{}, "", err
		}
		c.penalise(h.id, name, err)
		if ctx.Err() != nil {
			break
		}
	}
	return metadata{}, "", fmt.Errorf("%s: no peer gave its metadata (%d tried): %w", name, len(hs), last)
}

func (c *Catalog) penalise(id peer.ID, name string, err error) {
	d := c.failed(id)
	c.log.Debug("route attempt failed", "model", name, "peer", id.String(), "err", err, "backoff", d)
}

// attemptContext gives one attempt its share of ctx's time: half of what
// is left while another holder could still be tried, all of it for the
// last.
func attemptContext(ctx context.Context, left int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok || left <= 1 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/2)
}

// retryable says whether another holder might answer where one failed: not
// for a bad input, which every holder would refuse alike.
func retryable(err error) bool {
	return !errors.Is(err, inference.ErrBadInput)
}

// exchange sends one request frame to id and reads its answer.
func (c *Catalog) exchange(ctx context.Context, id peer.ID, payload []byte) (response, error) {
	st, err := c.h.NewStream(ctx, id, c.proto)
	if err != nil {
		return response{}, fmt.Errorf("peer %s: open stream: %w", shortID(id.String()), err)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	if err := writeFrame(st, payload); err != nil {
		_ = st.Reset()
		return response{}, ctxErr(ctx, fmt.Errorf("peer %s: send: %w", shortID(id.String()), err))
	}
	_ = st.CloseWrite()
	b, err := readFrame(st, MaxFrameSize)
	if err != nil {
		_ = st.Reset()
		return response{}, ctxErr(ctx, fmt.Errorf("peer %s: read answer: %w", shortID(id.String()), err))
	}
	_ = st.Close()
	rs, err := decodeResponse(b)
	if err != nil {
		return response{}, fmt.Errorf("peer %s: %w", shortID(id.String()), err)
	}
	if rs.Status == statusError {
		return rs, &RemoteError{Peer: id.String(), Kind: rs.ErrKind, Msg: rs.ErrMsg}
	}
	return rs, nil
}

// ctxErr makes an error that ctx's end caused say so (and wrap it).
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
