package avg

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Consensus runs equal-weight rounds with peers from candidates() until this
// peer's distance estimate (ExchangeStats.Distance) stays below target with
// ConsensusPatience distinct partners in a row, or a partner says the job is final, or
// maxRounds rounds ran. Failed rounds (no partner free) count towards
// maxRounds and are skipped. It returns the rounds that averaged with a
// partner (each is one averaging period of this peer, see Round); the error is non-nil when ctx ended or maxRounds ran out
// without reaching the target. Params stay averaged with peers; call
// Finalize next for bit-identical vectors.
func (a *Averager) Consensus(ctx context.Context, candidates func() []peer.ID, target float64, maxRounds int) (int, error) {
	a.SetConsensus(true)
	// Once this peer is done, it answers the others without pacing: they
	// may still need it as a partner while it waits to finalize.
	defer a.endPacing()
	below := map[peer.ID]bool{}
	last := math.Inf(1)
	r := 0 // rounds with an exchange
	for tries := 1; tries <= maxRounds; tries++ {
		if a.frozen() {
			return r, nil
		}
		cands := candidates()
		st, err := a.Round(ctx, cands)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if errors.Is(err, ErrPartnerFinal) {
			return r, nil
		}
		if err != nil {
			continue
		}
		r++
		last = st.Distance
		if st.Distance < target {
			// Distinct partners: meeting the peer we just averaged with
			// again says nothing about the rest of the mesh.
			below[st.Partner] = true
			// Banned peers never answer, so they cannot count towards
			// the partners that must agree.
			others := 0
			for _, p := range cands {
				if p != a.self && !a.Banned(p) {
					others++
				}
			}
			if len(below) >= min(ConsensusPatience, max(others, 1)) {
				return r, nil
			}
		} else {
			clear(below)
		}
	}
	return r, fmt.Errorf("avg: no consensus after %d rounds (last distance estimate %.3g, target %.3g)", maxRounds, last, target)
}
