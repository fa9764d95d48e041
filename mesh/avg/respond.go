package avg

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// serve is the responder's side of one exchange: it answers the push that
// handle routed here, and applies the average only once the initiator
// commits.
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
	ctx, cancel := context.WithTimeout(context.Background(), a.exchangeTimeout())
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
	if a.periodDone() {
		refuse(cs, stBusy, "averaged this period")
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
	if a.paced {
		a.servedInPeriod = true
		a.lastServed = ExchangeStats{Partner: p, Round: push.Round, BytesSent: cs.sent, BytesRecv: cs.recv, Distance: dist}
	}
	a.smu.Unlock()
	_ = writeHeader(cs, &header{Kind: kindDone})
}
