package avg

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ExchangeWith runs one push-pull exchange with p. On success both peers
// hold the weighted average; on any error params are untouched.
func (a *Averager) ExchangeWith(ctx context.Context, p peer.ID) (ExchangeStats, error) {
	cs, err := a.exchange(ctx, p, false)
	if err != nil {
		a.smu.Lock()
		a.totals.Failed++
		a.smu.Unlock()
	}
	return cs, err
}

// exchange is the initiator's side of one exchange (push, payload, reply,
// commit, done: see doc.go); Round and ExchangeWith count its failures.
// With paced (Round), a success marks the period's exchange done before
// the exchange slot is released, so no partner slips in between.
func (a *Averager) exchange(ctx context.Context, p peer.ID, paced bool) (st ExchangeStats, err error) {
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
	ctx, cancel := context.WithTimeout(ctx, a.exchangeTimeout())
	defer cancel()
	if err := a.acquire(ctx); err != nil {
		return st, err
	}
	defer a.release()
	if paced && a.periodDone() {
		// A partner averaged with us while we waited for the slot: that
		// was this period's exchange (Round picks it up).
		return st, errPeriodDone
	}

	// The consensus phase sends ConsensusEncoding (f32 by default):
	// compression noise keeps the peers apart by about its own size.
	enc, chunk := a.cfg.Encoding, DefaultChunk
	if a.consensus.Load() {
		enc = a.cfg.ConsensusEncoding
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
			refuse(cs, stRejected, err.Error())
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
	if paced {
		a.initiatedInPeriod = true
	}
	a.exchTime = ((exchTimeSmoothing-1)*a.exchTime + st.Duration) / exchTimeSmoothing
	a.smu.Unlock()
	return st, nil
}

// exchangeTimeout is the deadline of one exchange: Config.Timeout until
// one has completed, then exchTimeoutFactor times the typical exchange's
// duration, within [minExchangeTimeout, Config.Timeout]. A partner cut off
// mid-exchange (a network split: its connection stays up, silent) then
// costs this peer a fraction of a period, not the whole Timeout, and the
// trainer goes on with the peers it can reach.
func (a *Averager) exchangeTimeout() time.Duration {
	a.smu.Lock()
	t := a.exchTime
	a.smu.Unlock()
	if t <= 0 {
		return a.cfg.Timeout
	}
	return min(a.cfg.Timeout, max(minExchangeTimeout, exchTimeoutFactor*t))
}
