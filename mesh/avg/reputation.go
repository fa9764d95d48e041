package avg

import "github.com/libp2p/go-libp2p/core/peer"

// Reputation of p: 1 is clean; each rejected vector halves it, each good
// exchange adds 0.05 back (up to 1).
func (a *Averager) Reputation(p peer.ID) float64 {
	a.smu.Lock()
	defer a.smu.Unlock()
	return a.repLocked(p)
}

// repLocked is Reputation for callers holding smu; a peer never seen is
// clean.
func (a *Averager) repLocked(p peer.ID) float64 {
	if r, ok := a.rep[p]; ok {
		return r
	}
	return repClean
}

// Banned reports whether p's reputation is below Config.MinReputation.
func (a *Averager) Banned(p peer.ID) bool { return a.Reputation(p) < a.cfg.MinReputation }

// strike records a vector of p's that this peer rejected.
func (a *Averager) strike(p peer.ID) {
	a.smu.Lock()
	a.rep[p] = a.repLocked(p) / repStrikeDivisor
	a.totals.Rejected++
	a.smu.Unlock()
}

// credit records a good exchange with p.
func (a *Averager) credit(p peer.ID) {
	a.smu.Lock()
	a.rep[p] = min(repClean, a.repLocked(p)+repCredit)
	a.smu.Unlock()
}
