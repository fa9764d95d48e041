package avg

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

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

// addBytes adds what one stream carried to the totals, whatever the
// exchange's outcome: refused and failed attempts cost bandwidth too.
func (a *Averager) addBytes(cs *countingStream) {
	a.smu.Lock()
	a.totals.BytesSent += cs.sent
	a.totals.BytesRecv += cs.recv
	a.smu.Unlock()
}
