package avg

import (
	"math"

	"github.com/libp2p/go-libp2p/core/peer"
)

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
