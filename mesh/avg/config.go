package avg

import (
	"fmt"
	"time"
)

// Defaults and fixed tunables of the averaging protocol, in one place. The
// Config fields fall back to the default* values when left zero (see fill);
// the others are not configurable, but live here so every number that sets
// the pace or the tolerance of averaging can be read and changed together.
// Wire-format limits (MaxJobIDLen, MaxVectorLen, DefaultChunk, ...) stay
// with the format description in frame.go: changing them breaks peers.
const (
	// defaultTimeout bounds one exchange or fetch: an exchange moves the
	// model twice over one stream, and a partner that has not finished by
	// then is given up on, with params untouched.
	defaultTimeout = 30 * time.Second
	// minExchangeTimeout and exchTimeoutFactor set the deadline of an
	// exchange once one has completed (exchangeTimeout): 20 typical
	// exchanges leave room for a partner busy with another and for a GC
	// pause; 2 s for a loaded machine whose exchanges take milliseconds.
	minExchangeTimeout = 2 * time.Second
	exchTimeoutFactor  = 20
	// firstHeaderTimeout bounds reading the first header of an incoming
	// stream, before its job (and so the job's Timeout) is known, so a
	// caller that says nothing cannot hold a stream open for ever.
	firstHeaderTimeout = 30 * time.Second
	// defaultAttempts is how many partners Round tries when one is busy,
	// unreachable or rejected: enough to get past a few collisions and a
	// banned liar on a small mesh, few enough that a round stays short.
	defaultAttempts = 8

	// defaultMinReputation is the reputation below which a peer is not
	// chosen and its pushes are refused: starting from 1, three rejected
	// vectors with no good exchange between (1/8) put a peer below it, one
	// honest glitch does not.
	defaultMinReputation = 0.2
	// repClean is the reputation of a peer never seen misbehaving, and the
	// cap that credits climb back to.
	repClean = 1.0
	// repStrikeDivisor divides a peer's reputation on each rejected vector:
	// halving makes repeated offences exponentially costly.
	repStrikeDivisor = 2
	// repCredit is added back for each good exchange: a peer with one
	// rejection (0.5) needs 10 good exchanges to be clean again, so trust
	// is lost at once and comes back slowly.
	repCredit = 0.05

	// defaultClipMultiplier scales the median of recent difference norms
	// into the ClippedGossip radius: wide enough that honest partners mostly
	// pass unclipped, tight enough that a liar's pull is bounded by a few
	// honest spreads.
	defaultClipMultiplier = 3
	// defaultClipWarmup is the radius, relative to the own norm, before
	// enough history exists. Peers of one job start from the same seed and
	// drift apart by a few local steps, far less than 10% of the norm; a
	// liar met before any history exists moves us by at most half of this.
	defaultClipWarmup = 0.1
	// defaultStrikeRatio: a difference this many radii long is rejected
	// outright and costs reputation, rather than being clipped; far beyond
	// any honest spread, so only liars (or peers from another run) hit it.
	defaultStrikeRatio = 10
	// defaultAdoptTolerance is how far (relative) a final vector may be from
	// this peer's own for Finalize to adopt it under RobustClip: consensus
	// leaves honest peers within about 1e-3, a liar's vector is far beyond.
	defaultAdoptTolerance = 0.05
	// clipWindow is how many recent difference norms the clip radius is the
	// median of: long enough that a few liars sit above the median, short
	// enough to follow the honest spread as training moves it.
	clipWindow = 32
	// clipMinHist is the history needed before the median replaces the
	// warm-up guess: a median of fewer norms is one partner's opinion.
	clipMinHist = 4

	// defaultOuterMomentum is the Nesterov momentum of the DiLoCo outer step
	// when OuterLR is set, the value the DiLoCo paper uses.
	defaultOuterMomentum = 0.9

	// backoffMin is the smallest backoff scale between Round's attempts, so
	// peers that collided before any exchange completed (no timing yet)
	// still spread out.
	backoffMin = 2 * time.Millisecond
	// backoffMaxDoublings caps the growth of that backoff (16× the scale):
	// past it, waiting longer only wastes the round.
	backoffMaxDoublings = 4
	// exchTimeSmoothing: each completed exchange counts for 1/exchTimeSmoothing
	// in the moving average of exchange durations that scales the backoff,
	// so one slow exchange does not stretch every later wait.
	exchTimeSmoothing = 4

	// adoptRetry is how often AdoptFinal asks its sources again: a restarted
	// peer waits on peers that are finishing their own Finalize, which
	// takes a few exchanges.
	adoptRetry = 100 * time.Millisecond
	// fetchWaitMin and fetchWaitMax bound the doubling wait between fetches
	// of a final vector that is not ready yet: fast when the partner is
	// about to freeze, no more than two asks a second when it is not.
	fetchWaitMin = 10 * time.Millisecond
	fetchWaitMax = 500 * time.Millisecond
)

// ConsensusPatience is how many distinct partners in a row must give a
// distance estimate below the target before Consensus stops. Three: one
// partner below target may just be the peer last averaged with, three
// distinct ones on a random schedule speak for the mesh.
const ConsensusPatience = 3

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
	Encoding Encoding // what this peer sends when it initiates; replies mirror the initiator
	// ConsensusEncoding is what it sends in the consensus phase (default
	// f32): compression noise keeps peers apart by about its own size, so
	// a compressed consensus stops at a larger distance.
	ConsensusEncoding Encoding
	Robust            Robust        // RobustClip enables ClippedGossip
	Timeout           time.Duration // deadline of one exchange or fetch (default 30 s)
	Attempts          int           // partners tried by Round when one is busy/unreachable/rejected (default 8)

	MinReputation  float64 // below it a peer is not chosen and its pushes are refused (default 0.2)
	ClipMultiplier float64 // clip radius = this × median of recent difference norms (default 3)
	ClipWarmup     float64 // radius before enough history, relative to ‖own‖ (default 0.1)
	StrikeRatio    float64 // RobustClip: a difference this many radii long is rejected outright, costing reputation (default 10)
	AdoptTolerance float64 // RobustClip: Finalize refuses a final vector farther than this, relative (default 0.05)

	OuterLR       float64 // DiLoCo outer learning rate; 0 = no outer step (default)
	OuterMomentum float64 // Nesterov momentum of the outer step (default 0.9 when OuterLR > 0)

	Seed uint64 // partner choice

	// InitiateProbability, when in (0, 1), makes Round initiate with this
	// probability when no partner averaged with this peer in the period;
	// 0 (the default) initiates always then. See Round.
	InitiateProbability float64

	// Tamper corrupts a copy of what this peer sends (never its own params).
	// Only for tests and `testnet --poison`.
	Tamper func(out []float32)
}

// fill replaces zero (or, where a negative value means nothing, negative)
// fields with the defaults above. MinReputation only falls back when zero,
// so a negative value disables banning.
func (c *Config) fill() {
	if c.Encoding == 0 {
		c.Encoding = EncF32
	}
	if c.ConsensusEncoding == 0 {
		c.ConsensusEncoding = EncF32
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = defaultAttempts
	}
	if c.MinReputation == 0 {
		c.MinReputation = defaultMinReputation
	}
	if c.ClipMultiplier <= 0 {
		c.ClipMultiplier = defaultClipMultiplier
	}
	if c.ClipWarmup <= 0 {
		c.ClipWarmup = defaultClipWarmup
	}
	if c.StrikeRatio <= 0 {
		c.StrikeRatio = defaultStrikeRatio
	}
	if c.AdoptTolerance <= 0 {
		c.AdoptTolerance = defaultAdoptTolerance
	}
	if c.OuterLR > 0 && c.OuterMomentum == 0 {
		c.OuterMomentum = defaultOuterMomentum
	}
}
