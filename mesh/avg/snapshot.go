package avg

import "fmt"

// prepare snapshots params and encodes what this peer sends. It returns the
// version seen, the weight and the payload. Called holding sem.
func (a *Averager) prepare(enc Encoding, chunk int) (ver uint64, w float64, payload []byte, err error) {
	a.mu.Lock()
	ver = a.version
	copy(a.snap, a.params)
	a.mu.Unlock()
	a.smu.Lock()
	w = a.weight
	a.smu.Unlock()
	if err := checkFinite(a.snap); err != nil {
		return 0, 0, nil, fmt.Errorf("avg: own parameters unusable: %w", err)
	}
	if a.consensus.Load() {
		w = 1
	}
	// Error feedback: send snap + what earlier compression lost.
	copy(a.send, a.snap)
	if a.resid != nil {
		for i, r := range a.resid {
			a.send[i] += r
		}
	}
	a.buf = encodeVector(a.buf[:0], enc, chunk, a.send, a.sdec)
	payload = a.buf
	if a.cfg.Tamper != nil {
		bad := make([]float32, len(a.send))
		copy(bad, a.send)
		a.cfg.Tamper(bad)
		scratch := make([]float32, len(bad))
		payload = encodeVector(nil, enc, chunk, bad, scratch)
	}
	return ver, w, payload, nil
}

// commitResidual keeps what compression lost for the next send. f32 loses
// nothing (resid is dropped once flushed).
func (a *Averager) commitResidual(enc Encoding) {
	if enc == EncF32 {
		a.resid = nil
		return
	}
	if a.resid == nil {
		a.resid = make([]float32, len(a.send))
	}
	for i := range a.resid {
		a.resid[i] = a.send[i] - a.sdec[i]
	}
}

// apply writes the average into params. When nothing touched params since
// the snapshot the average is copied bit for bit (so both peers hold the
// same vector); otherwise its change is added to the current values.
func (a *Averager) apply(ver uint64) {
	a.mu.Lock()
	if a.version == ver {
		copy(a.params, a.avg)
	} else {
		for i := range a.params {
			a.params[i] = float32(float64(a.params[i]) + (float64(a.avg[i]) - float64(a.snap[i])))
		}
	}
	a.version++
	a.mu.Unlock()
}
