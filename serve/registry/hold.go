package registry

import (
	"fmt"

	"github.com/shoalmesh/shoal/serve/inference"
)

// StateUnloadedByOperator is the Error of every version of a model the
// operator unloaded (Unload).
const StateUnloadedByOperator = "unloaded by the operator"

func unloadedReason(st *modelState) string {
	if st.held {
		return StateUnloadedByOperator
	}
	return StateUnloaded
}

// Unload stops serving name: every loaded version is retired (requests
// already holding one are answered), none loads again, and heartbeats stop
// announcing it, until Serve. The files stay in the store. It lasts until
// Serve or the node's restart.
func (r *Registry) Unload(name string) error {
	if err := r.setHeld(name, true); err != nil {
		return err
	}
	r.unloadUnwanted()
	r.wake() // a version refused for want of memory may fit now
	return nil
}

// Serve undoes Unload: the model's versions load again by the usual
// policy. Serving a model that is served is a no-op.
func (r *Registry) Serve(name string) error {
	if err := r.setHeld(name, false); err != nil {
		return err
	}
	return r.Rescan()
}

// Held reports whether the operator unloaded name.
func (r *Registry) Held(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.held[name]
}

func (r *Registry) setHeld(name string, held bool) error {
	if r.closed.Load() {
		return errClosed
	}
	r.planMu.Lock()
	defer r.planMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.models[name]
	if !ok {
		return fmt.Errorf("%w: %q", inference.ErrModelNotFound, name)
	}
	if held {
		r.held[name] = true
	} else {
		delete(r.held, name)
	}
	st.held = held
	return nil
}
