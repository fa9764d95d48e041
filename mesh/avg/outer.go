package avg

// DiLoCo-style outer step (Douillard et al., 2023): the local steps and the
// averaging of one outer round together make a "pseudo-gradient"
// delta = start − averaged, and an outer optimizer (Nesterov momentum) turns
// it into the update. With OuterLR = 1 and OuterMomentum = 0 this is plain
// averaging. Both methods are no-ops when Config.OuterLR is 0, so a trainer
// can call them unconditionally. Call them from the training goroutine,
// without holding Lock.

// BeginOuter records the parameters at the start of an outer round.
func (a *Averager) BeginOuter() {
	if a.cfg.OuterLR == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.outerStart == nil {
		a.outerStart = make([]float32, len(a.params))
		a.outerMom = make([]float32, len(a.params))
	}
	copy(a.outerStart, a.params)
}

// OuterStep applies the outer update after averaging:
// m = μ·m + delta; params = start − lr·(delta + μ·m).
func (a *Averager) OuterStep() {
	if a.cfg.OuterLR == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.outerStart == nil {
		return // no BeginOuter yet
	}
	lr, mu := float32(a.cfg.OuterLR), float32(a.cfg.OuterMomentum)
	for i, s := range a.outerStart {
		d := s - a.params[i]
		m := mu*a.outerMom[i] + d
		a.outerMom[i] = m
		a.params[i] = s - lr*(d+mu*m)
	}
	a.version++
}
