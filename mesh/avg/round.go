package avg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Round runs one averaging round: it picks a partner from candidates
// (skipping itself and peers below the reputation threshold) and exchanges
// with it. Partners are visited in a random order that is reshuffled after
// every pass, not drawn independently each time: a peer then rarely meets
// the partner it just averaged with, which would teach it nothing (on 16
// peers this saves a round or two to reach consensus). When a partner is
// busy, unreachable before any exchange, or sends a vector that is rejected,
// Round tries the next one, up to Config.Attempts. Any other failure (a
// partner dying mid-exchange) returns the error with params untouched.
func (a *Averager) Round(ctx context.Context, candidates []peer.ID) (ExchangeStats, error) {
	var sent, recv int64
	var last error
	for attempt := 0; attempt < a.cfg.Attempts; attempt++ {
		p, ok := a.nextPartner(candidates)
		if !ok {
			if last == nil {
				last = ErrNoPartner
			}
			break
		}
		st, err := a.ExchangeWith(ctx, p)
		sent += st.BytesSent
		recv += st.BytesRecv
		st.BytesSent, st.BytesRecv = sent, recv
		if err == nil {
			return st, nil
		}
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
	return ExchangeStats{BytesSent: sent, BytesRecv: recv}, fmt.Errorf("avg: round failed after trying partners: %w", last)
}

func retryable(err error) bool {
	return errors.Is(err, ErrBusy) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRejected) ||
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
