package avg

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolName is the stream protocol, under the mesh's prefix (see
// mesh.Node.Protocol), that carries parameter exchanges and fetches of a
// job's final vector. Members of other meshes do not even share its id.
const ProtocolName = "params/1.0.0"

// Errors callers may test with errors.Is.
var (
	ErrBusy         = errors.New("avg: partner is busy in another exchange")
	ErrFrozen       = errors.New("avg: this averager is final (frozen)")
	ErrPartnerFinal = errors.New("avg: partner has finalized the job")
	ErrRejected     = errors.New("avg: vector rejected")
	ErrRefused      = errors.New("avg: partner refused")
	ErrNoPartner    = errors.New("avg: no eligible partner")
	ErrClosed       = errors.New("avg: averager closed")
	ErrUnreachable  = errors.New("avg: partner unreachable")
)

// Robust selects the guard applied to a partner's vector beyond the NaN/Inf
// and length checks, which always run.
type Robust uint8

const (
	RobustNone Robust = 0
	RobustClip Robust = 1 // ClippedGossip: clip the partner's difference to an adaptive radius
)

// ParseRobust reads a --robust value: "none" or "clip".
func ParseRobust(s string) (Robust, error) {
	switch s {
	case "", "none":
		return RobustNone, nil
	case "clip":
		return RobustClip, nil
	}
	return 0, fmt.Errorf("avg: unknown robust mode %q (want none or clip)", s)
}

// Config tunes one Averager. The zero value is usable: f32, no clipping,
// 30 s deadlines, no outer step.
type Config struct {
	Encoding Encoding      // what this peer sends when it initiates; replies mirror the initiator
	Robust   Robust        // RobustClip enables ClippedGossip
	Timeout  time.Duration // deadline of one exchange or fetch (default 30 s)
	Attempts int           // partners tried by Round when one is busy/unreachable/rejected (default 8)

	MinReputation  float64 // below it a peer is not chosen and its pushes are refused (default 0.2)
	ClipMultiplier float64 // clip radius = this × median of recent difference norms (default 3)
	ClipWarmup     float64 // radius before enough history, relative to ‖own‖ (default 0.1)
	StrikeRatio    float64 // RobustClip: a difference this many radii long is rejected outright, costing reputation (default 10)
	AdoptTolerance float64 // RobustClip: Finalize refuses a final vector farther than this, relative (default 0.05)

	OuterLR       float64 // DiLoCo outer learning rate; 0 = no outer step (default)
	OuterMomentum float64 // Nesterov momentum of the outer step (default 0.9 when OuterLR > 0)

	Seed uint64 // partner choice

	// Tamper corrupts a copy of what this peer sends (never its own params).
	// Only for tests and `testnet --poison`.
	Tamper func(out []float32)
}

func (c *Config) fill() {
	if c.Encoding == 0 {
		c.Encoding = EncF32
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 8
	}
	if c.MinReputation == 0 {
		c.MinReputation = 0.2
	}
	if c.ClipMultiplier <= 0 {
		c.ClipMultiplier = 3
	}
	if c.ClipWarmup <= 0 {
		// Peers of one job start from the same seed and drift apart by a few
		// local steps, far less than 10% of the norm; a liar met before any
		// history exists moves us by at most half of this.
		c.ClipWarmup = 0.1
	}
	if c.StrikeRatio <= 0 {
		c.StrikeRatio = 10
	}
	if c.AdoptTolerance <= 0 {
		c.AdoptTolerance = 0.05
	}
	if c.OuterLR > 0 && c.OuterMomentum == 0 {
		c.OuterMomentum = 0.9
	}
}

// Service serves the params protocol on one host and routes streams to the jobs that
// joined it: a host has one handler per protocol, a node may run several jobs.
type Service struct {
	h     host.Host
	proto protocol.ID
	mu    sync.Mutex
	jobs  map[string]*Averager
}

// NewService registers the stream handler for proto (the mesh's full id of
// ProtocolName) on h.
func NewService(h host.Host, proto protocol.ID) *Service {
	s := &Service{h: h, proto: proto, jobs: map[string]*Averager{}}
	h.SetStreamHandler(proto, s.handle)
	return s
}

// Close removes the stream handler. Averagers of this service stop serving.
func (s *Service) Close() {
	s.h.RemoveStreamHandler(s.proto)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.jobs {
		a.closed.Store(true)
	}
	s.jobs = map[string]*Averager{}
}

// Join starts averaging params (for example engine/nn Model.Params(), which
// is averaged in place) in job jobID.
func (s *Service) Join(jobID string, params []float32, cfg Config) (*Averager, error) {
	if jobID == "" || len(jobID) > MaxJobIDLen {
		return nil, fmt.Errorf("avg: job id must be 1..%d bytes", MaxJobIDLen)
	}
	if len(params) == 0 || len(params) > MaxVectorLen {
		return nil, fmt.Errorf("avg: %d parameters outside [1, %d]", len(params), MaxVectorLen)
	}
	if cfg.Encoding != 0 && !cfg.Encoding.valid() {
		return nil, fmt.Errorf("avg: unknown encoding %d", cfg.Encoding)
	}
	cfg.fill()
	n := len(params)
	a := &Averager{
		svc:    s,
		self:   s.h.ID(),
		job:    jobID,
		cfg:    cfg,
		params: params,
		sem:    make(chan struct{}, 1),
		snap:   make([]float32, n),
		send:   make([]float32, n),
		sdec:   make([]float32, n),
		theirs: make([]float32, n),
		avg:    make([]float32, n),
		rep:    map[peer.ID]float64{},
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x5ca1ab1e)),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[jobID]; dup {
		return nil, fmt.Errorf("avg: job %q already joined on this host", jobID)
	}
	s.jobs[jobID] = a
	return a, nil
}

func (s *Service) lookup(job string) *Averager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[job]
}

// Averager averages one parameter vector with peers of one job.
//
// Concurrency contract: the Averager guards params with a mutex. The
// training goroutine holds a.Lock()/a.Unlock() around everything that reads
// or writes params (TrainBatch, optimizer Step, evaluation). Every other
// method is called WITHOUT holding it; they take it only to copy params out
// (snapshot) and to write the result back. Incoming exchanges are served at
// any time on libp2p goroutines; at most one exchange (incoming or outgoing)
// runs per Averager at a time, so each is atomic on both peers. If the
// trainer changed params during an exchange, the average's change relative
// to the snapshot is added to the current params, so no local step is lost.
type Averager struct {
	svc  *Service
	self peer.ID
	job  string
	cfg  Config

	// Lock order: mu before smu, never the other way.
	mu      sync.Mutex // params, version, outer state
	params  []float32
	version uint64 // bumped by Unlock and by applied averages

	consensus atomic.Bool
	closed    atomic.Bool
	round     atomic.Uint64

	// sem serializes exchanges. Everything below it up to smu is used only
	// while holding sem.
	sem                           chan struct{}
	resid                         []float32 // error feedback: what compression has not sent yet
	snap, send, sdec, theirs, avg []float32
	buf, rbuf                     []byte

	smu      sync.Mutex // weight, rep, clip, totals, queue, rng, final
	weight   float64
	rep      map[peer.ID]float64
	clip     clipper
	totals   Totals
	queue    []peer.ID
	rng      *rand.Rand
	exchTime time.Duration // moving average of a completed exchange's duration
	final    []float32     // set once frozen
	finalSum [32]byte

	outerStart, outerMom []float32
}

// Lock must be held by the trainer while it reads or writes params.
func (a *Averager) Lock() { a.mu.Lock() }

// Unlock releases the params after a local step.
func (a *Averager) Unlock() {
	a.version++
	a.mu.Unlock()
}

// Params is the averaged slice (the one given to Join).
func (a *Averager) Params() []float32 { return a.params }

// JobID is the job this averager belongs to.
func (a *Averager) JobID() string { return a.job }

// AddSamples adds n to this peer's weight (samples seen). A peer that has
// seen no samples has weight 0; two such peers average with equal weights.
// It may be called with or without Lock held.
func (a *Averager) AddSamples(n int) {
	a.smu.Lock()
	a.weight += float64(n)
	a.smu.Unlock()
}

// SetWeight sets this peer's weight directly (samples seen), with or
// without Lock held.
func (a *Averager) SetWeight(w float64) {
	if !(w >= 0) || w > maxWeight {
		return
	}
	a.smu.Lock()
	a.weight = w
	a.smu.Unlock()
}

// SetConsensus switches to equal weights (the consensus phase).
func (a *Averager) SetConsensus(on bool) { a.consensus.Store(on) }

// Close leaves the job: incoming exchanges are refused from now on.
func (a *Averager) Close() {
	a.closed.Store(true)
	a.svc.mu.Lock()
	if a.svc.jobs[a.job] == a {
		delete(a.svc.jobs, a.job)
	}
	a.svc.mu.Unlock()
}

// ExchangeStats describes one completed exchange.
type ExchangeStats struct {
	Partner   peer.ID
	Round     uint64 // this averager's exchange counter
	BytesSent int64  // this exchange, refused attempts of Round included
	BytesRecv int64
	// Distance estimates the relative consensus distance ‖x_i − x̄‖/‖x̄‖ from
	// this pair: ‖x_mine − x_theirs‖ / (√2 ‖average‖), measured before averaging.
	Distance float64
	Clipped  bool // the partner's difference was clipped (RobustClip)
	Duration time.Duration
}

// Totals are cumulative counters over all exchanges, incoming included.
type Totals struct {
	Exchanges int64 // completed, initiated by this peer
	Served    int64 // completed, initiated by a partner
	Failed    int64 // initiated exchanges that failed (busy partners included)
	Rejected  int64 // vectors this peer rejected (NaN/Inf, wrong length, checksum)
	Clipped   int64
	BytesSent int64
	BytesRecv int64
	// LastDistance is the Distance of the latest completed exchange.
	LastDistance float64
	// MaxShift is the largest relative change ‖new − old‖/‖old‖ that one
	// exchange (started by either side) computed for this peer's params:
	// a few percent between honest peers, far more when a scaled vector
	// gets past the guard rails.
	MaxShift float64
}

// Totals returns the counters so far.
func (a *Averager) Totals() Totals {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.totals
}

// Reputation of p: 1 is clean; each rejected vector halves it, each good
// exchange adds 0.05 back (up to 1).
func (a *Averager) Reputation(p peer.ID) float64 {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.repLocked(p)
}

func (a *Averager) repLocked(p peer.ID) float64 {
	if r, ok := a.rep[p]; ok {
		return r
	}
	return 1
}

// Banned reports whether p's reputation is below Config.MinReputation.
func (a *Averager) Banned(p peer.ID) bool { return a.Reputation(p) < a.cfg.MinReputation }

func (a *Averager) strike(p peer.ID) {
	a.smu.Lock()
	a.rep[p] = a.repLocked(p) / 2
	a.totals.Rejected++
	a.smu.Unlock()
}

func (a *Averager) credit(p peer.ID) {
	a.smu.Lock()
	a.rep[p] = min(1, a.repLocked(p)+0.05)
	a.smu.Unlock()
}

func (a *Averager) frozen() bool {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.final != nil
}

// acquire takes the exchange slot, waiting at most until ctx is done.
func (a *Averager) acquire(ctx context.Context) error {
	select {
	case a.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Averager) release() { <-a.sem }

// refusedError is a refusal received from a partner.
type refusedError struct {
	st  status
	msg string
}

func (e *refusedError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("avg: partner refused: %s (%s)", e.st, e.msg)
	}
	return fmt.Sprintf("avg: partner refused: %s", e.st)
}

func (e *refusedError) Is(target error) bool {
	switch target {
	case ErrRefused:
		return true
	case ErrBusy:
		return e.st == stBusy
	case ErrPartnerFinal:
		return e.st == stFrozen
	}
	return false
}

// countingStream counts bytes both ways.
type countingStream struct {
	network.Stream
	sent, recv int64
}

func (c *countingStream) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	c.recv += int64(n)
	return n, err
}

func (c *countingStream) Write(p []byte) (int, error) {
	n, err := c.Stream.Write(p)
	c.sent += int64(n)
	return n, err
}

// open starts a stream to p bound to ctx: the stream is reset when ctx ends,
// and carries ctx's deadline.
func (a *Averager) open(ctx context.Context, p peer.ID) (*countingStream, func(), error) {
	s, err := a.svc.h.NewStream(ctx, p, a.svc.proto)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, p, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	return &countingStream{Stream: s}, func() { stop(); _ = s.Close() }, nil
}

func (a *Averager) addBytes(cs *countingStream) {
	a.smu.Lock()
	a.totals.BytesSent += cs.sent
	a.totals.BytesRecv += cs.recv
	a.smu.Unlock()
}

// prepare snapshots params and encodes what this peer sends. It returns the
// version seen, the weight and the payload. Called holding sem.
func (a *Averager) prepare(enc Encoding, chunk int) (ver uint64, w float64, payload []byte, err error) {
	a.mu.Lock()
	ver = a.version
	copy(a.snap, a.params)
	a.mu.Unlock()
	a.smu.Lock()
	w = a.weight
	a.smu.Unlock()
	if err := checkFinite(a.snap); err != nil {
		return 0, 0, nil, fmt.Errorf("avg: own parameters unusable: %w", err)
	}
	if a.consensus.Load() {
		w = 1
	}
	// Error feedback: send snap + what earlier compression lost.
	copy(a.send, a.snap)
	if a.resid != nil {
		for i, r := range a.resid {
			a.send[i] += r
		}
	}
	a.buf = encodeVector(a.buf[:0], enc, chunk, a.send, a.sdec)
	payload = a.buf
	if a.cfg.Tamper != nil {
		bad := make([]float32, len(a.send))
		copy(bad, a.send)
		a.cfg.Tamper(bad)
		scratch := make([]float32, len(bad))
		payload = encodeVector(nil, enc, chunk, bad, scratch)
	}
	return ver, w, payload, nil
}

// commitResidual keeps what compression lost for the next send. f32 loses
// nothing (resid is dropped once flushed).
func (a *Averager) commitResidual(enc Encoding) {
	if enc == EncF32 {
		a.resid = nil
		return
	}
	if a.resid == nil {
		a.resid = make([]float32, len(a.send))
	}
	for i := range a.resid {
		a.resid[i] = a.send[i] - a.sdec[i]
	}
}

// apply writes the average into params. When nothing touched params since
// the snapshot the average is copied bit for bit (so both peers hold the
// same vector); otherwise its change is added to the current values.
func (a *Averager) apply(ver uint64) {
	a.mu.Lock()
	if a.version == ver {
		copy(a.params, a.avg)
	} else {
		for i := range a.params {
			a.params[i] = float32(float64(a.params[i]) + (float64(a.avg[i]) - float64(a.snap[i])))
		}
	}
	a.version++
	a.mu.Unlock()
}

// radius is this peer's ClippedGossip radius for the vector it is about to
// send (a.sdec), and the distance beyond which it rejects a partner outright;
// both 0 without RobustClip. Before any history the radius is a guess, so
// only a difference StrikeRatio times the own norm is rejected then (peers
// from different seeds are clipped, not banned).
func (a *Averager) radius() (tau, strikeAt float64) {
	if a.cfg.Robust != RobustClip {
		return 0, 0
	}
	var own float64
	for _, x := range a.sdec {
		own += float64(x) * float64(x)
	}
	own = math.Sqrt(own)
	a.smu.Lock()
	tau, warm := a.clip.radius(own, a.cfg.ClipWarmup, a.cfg.ClipMultiplier)
	a.smu.Unlock()
	if warm {
		return tau, a.cfg.StrikeRatio * own
	}
	return tau, a.cfg.StrikeRatio * tau
}

// pairRadius is the radius both ends clip with: the smaller positive one.
// Clipping with the same radius on both ends keeps the weighted mean (each
// side moves toward the other by the same clipped difference, scaled by the
// other's weight share).
func pairRadius(x, y float64) float64 {
	switch {
	case x <= 0:
		return y
	case y <= 0:
		return x
	}
	return min(x, y)
}

// combine computes a.avg from mine (a.sdec) and theirs, clipping the
// difference to tau (0 = no clipping); it returns the distance estimate,
// whether it clipped, and whether the difference exceeds strikeAt (0 = no
// check), in which case the caller rejects the vector. Without clipping both
// peers compute the same expression with the lower peer id first, so they
// end with bit-identical vectors on any IEEE machine (the explicit float64
// conversions forbid fused multiply-add).
func (a *Averager) combine(partner peer.ID, wMine, wTheirs float64, equal bool, tau, strikeAt float64) (dist float64, clipped bool, strike bool) {
	mine, theirs := a.sdec, a.theirs
	if equal || (wMine == 0 && wTheirs == 0) {
		wMine, wTheirs = 1, 1
	}
	wsum := wMine + wTheirs
	fm, ft := wMine/wsum, wTheirs/wsum
	var d2, n2 float64
	for i := range mine {
		d := float64(theirs[i]) - float64(mine[i])
		d2 += d * d
	}
	norm := math.Sqrt(d2)
	if strikeAt > 0 && norm > strikeAt {
		return 0, false, true
	}
	if a.cfg.Robust == RobustClip {
		// A far outlier (above) never enters the history. Others enter as
		// they are: liars are a minority of partners, so they sit above the
		// median without moving it, while a real growth of the honest
		// spread (a larger learning rate, peers from different seeds)
		// shows up in it.
		a.smu.Lock()
		a.clip.observe(norm)
		a.smu.Unlock()
	}
	if tau > 0 && norm > tau {
		clipped = true
		a.smu.Lock()
		a.totals.Clipped++
		a.smu.Unlock()
		s := ft * tau / norm
		for i := range mine {
			a.avg[i] = float32(float64(mine[i]) + s*(float64(theirs[i])-float64(mine[i])))
		}
	} else {
		lo, hi, flo, fhi := mine, theirs, fm, ft
		if partner < a.self {
			lo, hi, flo, fhi = theirs, mine, ft, fm
		}
		for i := range lo {
			a.avg[i] = float32(float64(flo*float64(lo[i])) + float64(fhi*float64(hi[i])))
		}
	}
	var s2, m2 float64 // how far this exchange moves mine, relative to it
	for i, x := range a.avg {
		n2 += float64(x) * float64(x)
		d := float64(x) - float64(mine[i])
		s2 += d * d
		m2 += float64(mine[i]) * float64(mine[i])
	}
	if m2 > 0 {
		a.smu.Lock()
		a.totals.MaxShift = max(a.totals.MaxShift, math.Sqrt(s2/m2))
		a.smu.Unlock()
	}
	if n2 > 0 {
		dist = norm / (math.Sqrt2 * math.Sqrt(n2))
	} else if d2 > 0 {
		dist = math.Inf(1)
	}
	return dist, clipped, strike
}

func (a *Averager) flags() uint8 {
	if a.consensus.Load() {
		return flagEqual
	}
	return 0
}

// ExchangeWith runs one push-pull exchange with p. On success both peers
// hold the weighted average; on any error params are untouched.
func (a *Averager) ExchangeWith(ctx context.Context, p peer.ID) (ExchangeStats, error) {
	cs, err := a.exchange(ctx, p)
	if err != nil {
		a.smu.Lock()
		a.totals.Failed++
		a.smu.Unlock()
	}
	return cs, err
}

func (a *Averager) exchange(ctx context.Context, p peer.ID) (st ExchangeStats, err error) {
	start := time.Now()
	st.Partner = p
	if p == a.self {
		return st, errors.New("avg: cannot exchange with self")
	}
	if a.closed.Load() {
		return st, ErrClosed
	}
	if a.frozen() {
		return st, ErrFrozen
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	if err := a.acquire(ctx); err != nil {
		return st, err
	}
	defer a.release()

	// The consensus phase always sends f32: compression noise would keep
	// the peers apart by about its own size (int8: a few 1e-3, relative).
	enc, chunk := a.cfg.Encoding, DefaultChunk
	if a.consensus.Load() {
		enc = EncF32
	}
	ver, w, payload, err := a.prepare(enc, chunk)
	if err != nil {
		return st, err
	}
	cs, done, err := a.open(ctx, p)
	if err != nil {
		return st, err
	}
	defer done()
	defer func() {
		st.BytesSent, st.BytesRecv = cs.sent, cs.recv
		a.addBytes(cs)
	}()

	round := a.round.Add(1)
	st.Round = round
	tau, strikeAt := a.radius()
	push := header{Kind: kindPush, Enc: enc, Flags: a.flags(), Round: round, Weight: w,
		Length: uint32(len(a.snap)), Chunk: uint32(chunk), Sum: sha256.Sum256(payload), Clip: tau, Job: a.job}
	if err := writeHeader(cs, &push); err != nil {
		return st, fmt.Errorf("%w: %s: sending offer: %v", ErrUnreachable, p, err)
	}
	resp, err := readHeader(cs)
	if err != nil {
		return st, fmt.Errorf("%w: %s: waiting for accept: %v", ErrUnreachable, p, err)
	}
	switch resp.Kind {
	case kindAccept:
	case kindRefuse:
		return st, &refusedError{st: resp.Status, msg: resp.Msg}
	default:
		return st, fmt.Errorf("avg: %s answered a push with %s", p, resp.Kind)
	}
	if _, err := cs.Write(payload); err != nil {
		return st, fmt.Errorf("avg: %s: sending vector: %w", p, err)
	}
	rep, err := readHeader(cs)
	if err != nil {
		return st, fmt.Errorf("avg: %s: reading reply: %w", p, err)
	}
	if rep.Kind == kindRefuse {
		return st, &refusedError{st: rep.Status, msg: rep.Msg}
	}
	if rep.Kind != kindReply || rep.Enc != enc || rep.Chunk != uint32(chunk) || int(rep.Length) != len(a.snap) {
		a.strike(p)
		return st, fmt.Errorf("%w: %s replied %s enc %s chunk %d length %d, want reply %s %d %d",
			ErrRejected, p, rep.Kind, rep.Enc, rep.Chunk, rep.Length, enc, chunk, len(a.snap))
	}
	if a.rbuf, err = readPayload(cs, &rep, a.theirs, a.rbuf); err == nil {
		err = checkFinite(a.theirs)
	}
	if err != nil {
		// A broken connection is not the partner's fault; bad content is.
		if errors.Is(err, errNonFinite) || !isIOError(err) {
			a.strike(p)
			_ = writeHeader(cs, &header{Kind: kindRefuse, Status: stRejected, Msg: trimMsg(err.Error())})
			return st, fmt.Errorf("%w from %s: %v", ErrRejected, p, err)
		}
		return st, err
	}
	dist, clipped, strikeIt := a.combine(p, w, rep.Weight, push.Flags&flagEqual != 0 || rep.Flags&flagEqual != 0,
		pairRadius(tau, rep.Clip), strikeAt)
	if strikeIt {
		a.strike(p)
		refuse(cs, stRejected, "difference far beyond the clip radius")
		return st, fmt.Errorf("%w: %s sent a vector far beyond %.3g times the clip radius", ErrRejected, p, a.cfg.StrikeRatio)
	}
	if err := writeHeader(cs, &header{Kind: kindCommit, Job: a.job}); err != nil {
		return st, fmt.Errorf("avg: %s: sending commit: %w", p, err)
	}
	fin, err := readHeader(cs)
	if err != nil || fin.Kind != kindDone {
		if err == nil {
			err = fmt.Errorf("got %s", fin.Kind)
		}
		return st, fmt.Errorf("avg: %s did not confirm the average (it may have applied it): %w", p, err)
	}
	a.apply(ver)
	a.commitResidual(enc)
	a.credit(p)
	st.Distance, st.Clipped, st.Duration = dist, clipped, time.Since(start)
	a.smu.Lock()
	a.totals.Exchanges++
	a.totals.LastDistance = dist
	a.exchTime = (3*a.exchTime + st.Duration) / 4
	a.smu.Unlock()
	return st, nil
}

func isIOError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, network.ErrReset) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isTimeout(err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func trimMsg(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	return s
}

// handle is the stream handler: it reads the first header and routes.
func (s *Service) handle(str network.Stream) {
	defer func() { _ = str.Close() }()
	_ = str.SetDeadline(time.Now().Add(30 * time.Second))
	cs := &countingStream{Stream: str}
	h, err := readHeader(cs)
	if err != nil {
		_ = str.Reset()
		return
	}
	a := s.lookup(h.Job)
	if a == nil {
		_ = writeHeader(cs, &header{Kind: kindRefuse, Status: stUnknownJob, Msg: trimMsg(h.Job)})
		return
	}
	_ = str.SetDeadline(time.Now().Add(a.cfg.Timeout))
	switch h.Kind {
	case kindPush:
		a.serve(cs, &h)
	case kindFetch:
		a.serveFinal(cs)
	default:
		_ = writeHeader(cs, &header{Kind: kindRefuse, Status: stProtocol, Msg: "expected push or fetch, got " + h.Kind.String()})
	}
	a.addBytes(cs)
}

func refuse(w io.Writer, st status, msg string) {
	_ = writeHeader(w, &header{Kind: kindRefuse, Status: st, Msg: trimMsg(msg)})
}

// serve answers one push.
func (a *Averager) serve(cs *countingStream, push *header) {
	p := cs.Conn().RemotePeer()
	switch {
	case a.closed.Load():
		refuse(cs, stLocal, "closed")
		return
	case a.frozen():
		refuse(cs, stFrozen, "")
		return
	case a.Banned(p):
		refuse(cs, stBanned, "")
		return
	case int(push.Length) != len(a.params):
		a.strike(p)
		refuse(cs, stBadLength, fmt.Sprintf("vector has %d elements, this job has %d", push.Length, len(a.params)))
		return
	}
	// Lock order: wait for a busy averager only when the initiator's id is
	// lower. Waits then go from lower to higher ids, so waiting initiators
	// never form a cycle; the other direction is refused at once and the
	// initiator tries another partner.
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
	defer cancel()
	if p < a.self {
		if err := a.acquire(ctx); err != nil {
			refuse(cs, stBusy, "")
			return
		}
	} else {
		select {
		case a.sem <- struct{}{}:
		default:
			refuse(cs, stBusy, "")
			return
		}
	}
	defer a.release()
	if a.frozen() {
		refuse(cs, stFrozen, "")
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = cs.Reset() })
	defer stop()
	if err := writeHeader(cs, &header{Kind: kindAccept}); err != nil {
		return
	}
	var err error
	if a.rbuf, err = readPayload(cs, push, a.theirs, a.rbuf); err == nil {
		err = checkFinite(a.theirs)
	}
	if err != nil {
		if errors.Is(err, errNonFinite) || !isIOError(err) {
			a.strike(p)
			refuse(cs, stRejected, err.Error())
		}
		return
	}
	ver, w, payload, err := a.prepare(push.Enc, int(push.Chunk))
	if err != nil {
		refuse(cs, stLocal, err.Error())
		return
	}
	flags := a.flags()
	tau, strikeAt := a.radius()
	tau = pairRadius(tau, push.Clip)
	dist, _, strikeIt := a.combine(p, w, push.Weight, push.Flags&flagEqual != 0 || flags&flagEqual != 0, tau, strikeAt)
	if strikeIt {
		a.strike(p)
		refuse(cs, stRejected, "difference far beyond the clip radius")
		return
	}
	reply := header{Kind: kindReply, Enc: push.Enc, Flags: flags, Round: push.Round, Weight: w,
		Length: push.Length, Chunk: push.Chunk, Sum: sha256.Sum256(payload), Clip: tau, Job: a.job}
	if err := writeHeader(cs, &reply); err != nil {
		return
	}
	if _, err := cs.Write(payload); err != nil {
		return
	}
	c, err := readHeader(cs)
	if err != nil || c.Kind != kindCommit {
		return // the initiator gave up (or rejected our vector): nothing changes
	}
	a.apply(ver)
	a.commitResidual(push.Enc)
	a.credit(p)
	a.smu.Lock()
	a.totals.Served++
	a.totals.LastDistance = dist
	a.smu.Unlock()
	_ = writeHeader(cs, &header{Kind: kindDone})
}

// VectorHash is the SHA-256 (hex) of v as float32 little-endian bytes: the
// identity of a final model vector.
func VectorHash(v []float32) string {
	h := sha256.New()
	var b [4096]byte
	for lo := 0; lo < len(v); lo += len(b) / 4 {
		hi := min(lo+len(b)/4, len(v))
		for i := lo; i < hi; i++ {
			binary.LittleEndian.PutUint32(b[4*(i-lo):], math.Float32bits(v[i]))
		}
		h.Write(b[:4*(hi-lo)])
	}
	return hex.EncodeToString(h.Sum(nil))
}
