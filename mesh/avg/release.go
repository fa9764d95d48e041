package avg

// Release frees what only exchanges need — the snapshot, send, receive and
// average vectors, the compression residue, the wire buffers and the outer
// step's state — once the vector is final (Finalize or AdoptFinal). A
// finished job then keeps its final vector, which late members adopt, and
// the parameters, instead of about seven model-sized copies for as long as
// the node runs. Exchanges are refused as final from then on, and every
// path that would touch the freed buffers checks that first, holding the
// exchange slot, which Release takes too. It reports whether it freed
// anything (false before the vector is final).
func (a *Averager) Release() bool {
	if !a.frozen() {
		return false
	}
	a.sem <- struct{}{}
	defer a.release()
	a.resid, a.snap, a.send, a.sdec, a.theirs, a.avg = nil, nil, nil, nil, nil, nil
	a.buf, a.rbuf = nil, nil
	a.mu.Lock()
	a.outerStart, a.outerMom = nil, nil
	a.mu.Unlock()
	return true
}
