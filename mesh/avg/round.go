package avg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Round is this peer's averaging period boundary: it makes sure the peer
// takes part in about one exchange per period, then returns. A period runs
// from one call of Round to the next; the first call puts the averager in
// this paced mode (before it, as with ExchangeWith alone, every push is
// answered).
//
// If a partner averaged with this peer since the previous boundary, that
// was the period's exchange: Round returns its stats and does not
// initiate. Otherwise it initiates one exchange (with probability
// Config.InitiateProbability when that is set, else always), and for the
// rest of the period refuses further partners as busy, who then try
// someone else. Measured on 16 hosts this halves the bytes of a round
// in which every peer initiates and answers any push (about 2 exchanges,
// so 2 model copies sent, per peer), and needs fewer bytes to reach a
// given consensus distance (see doc.go).
//
// Partners are visited in a random order that is reshuffled after every
// pass, not drawn independently each time: a peer then rarely meets the
// partner it just averaged with, which would teach it nothing. When a
// partner is busy, unreachable before any exchange, or sends a vector that
// is rejected, Round tries the next one, up to Config.Attempts; a partner
// that averages with this peer meanwhile ends the search. Any other
// failure (a partner dying mid-exchange) returns the error with params
// untouched.
func (a *Averager) Round(ctx context.Context, candidates []peer.ID) (ExchangeStats, error) {
	if st, served := a.beginPeriod(); served {
		return st, nil
	}
	if p := a.cfg.InitiateProbability; p > 0 && p < 1 {
		a.smu.Lock()
		passive := a.rng.Float64() >= p
		a.smu.Unlock()
		if passive {
			return ExchangeStats{}, ErrPassive
		}
	}
	var sent, recv int64
	var last error
	for attempt := 0; attempt < a.cfg.Attempts; attempt++ {
		if st, served := a.servedMeanwhile(); served {
			return st, nil
		}
		p, ok := a.nextPartner(candidates)
		if !ok {
			if last == nil {
				last = ErrNoPartner
			}
			break
		}
		st, err := a.exchange(ctx, p, true)
		sent += st.BytesSent
		recv += st.BytesRecv
		st.BytesSent, st.BytesRecv = sent, recv
		if err == nil {
			return st, nil
		}
		a.smu.Lock()
		a.totals.Failed++
		a.smu.Unlock()
		last = err
		if ctx.Err() != nil || !retryable(err) {
			return st, err
		}
		// Back off a little (random, growing) so peers that collided do
		// not collide again at once.
		// The scale is the typical exchange time: a busy partner is free
		// again after about one exchange.
		a.smu.Lock()
		base := max(backoffMin, a.exchTime/2)
		d := time.Duration(a.rng.Int64N(int64(base) << min(attempt, backoffMaxDoublings)))
		a.smu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ExchangeStats{BytesSent: sent, BytesRecv: recv}, ctx.Err()
		case <-t.C:
		}
	}
	if st, served := a.servedMeanwhile(); served {
		return st, nil
	}
	return ExchangeStats{BytesSent: sent, BytesRecv: recv}, fmt.Errorf("avg: round failed after trying partners: %w", last)
}

// beginPeriod starts a new period and reports the exchange a partner ran
// with this peer in the one that ends, if any.
func (a *Averager) beginPeriod() (ExchangeStats, bool) {
	a.smu.Lock()
	defer a.smu.Unlock()
	a.paced = true
	served, st := a.servedInPeriod, a.lastServed
	a.servedInPeriod, a.initiatedInPeriod = false, false
	return st, served
}

// EndPeriods tells the averager that its trainer stops calling Round (it
// finished its steps and waits for the others): it answers every partner
// again, as before the first Round. Without it a peer whose last period
// had its exchange would refuse every partner as "averaged this period"
// for good, since that period never ends, and a peer still training
// beside it found no partner at all: each of its rounds then tried every
// attempt and backed off (a 2-peer job trained 6x slower once one of the
// two was done). Round puts it back in paced mode; Consensus leaves it
// the same way when it ends.
func (a *Averager) EndPeriods() { a.endPacing() }

// endPacing leaves paced mode: a peer that stops calling Round (its
// consensus ended, it now waits in Finalize) would otherwise refuse every
// partner as "averaged this period" for good, since its period never ends,
// and the peers still converging could reach nobody.
func (a *Averager) endPacing() {
	a.smu.Lock()
	defer a.smu.Unlock()
	a.paced = false
	a.servedInPeriod, a.initiatedInPeriod = false, false
}

// servedMeanwhile reports an exchange a partner ran with this peer while
// Round was looking for one; it counts as this period's (the peer now
// refuses others until the next boundary, and initiates there).
func (a *Averager) servedMeanwhile() (ExchangeStats, bool) {
	a.smu.Lock()
	defer a.smu.Unlock()
	if !a.servedInPeriod {
		return ExchangeStats{}, false
	}
	a.servedInPeriod, a.initiatedInPeriod = false, true
	return a.lastServed, true
}

// periodDone reports whether this peer has had its exchange of the period
// (paced mode only), so serve refuses further partners.
func (a *Averager) periodDone() bool {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.paced && (a.servedInPeriod || a.initiatedInPeriod)
}

func retryable(err error) bool {
	return errors.Is(err, ErrBusy) || errors.Is(err, errPeriodDone) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRejected) ||
		errors.Is(err, ErrRefused) && !errors.Is(err, ErrPartnerFinal)
}

// nextPartner pops the next eligible peer of the shuffled schedule, refilling
// it from candidates when it runs dry.
func (a *Averager) nextPartner(candidates []peer.ID) (peer.ID, bool) {
	a.smu.Lock()
	defer a.smu.Unlock()
	eligible := func(p peer.ID) bool {
		return p != a.self && a.repLocked(p) >= a.cfg.MinReputation && slices.Contains(candidates, p)
	}
	for pass := 0; pass < 2; pass++ {
		for len(a.queue) > 0 {
			p := a.queue[0]
			a.queue = a.queue[1:]
			if eligible(p) {
				return p, true
			}
		}
		for _, p := range candidates {
			if eligible(p) && !slices.Contains(a.queue, p) {
				a.queue = append(a.queue, p)
			}
		}
		a.rng.Shuffle(len(a.queue), func(i, j int) { a.queue[i], a.queue[j] = a.queue[j], a.queue[i] })
	}
	return "", false
}
