package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve/inference"
)

// fileStat is what tells a model file changed: its size and modification
// time (size -1: no file).
type fileStat struct {
	size int64
	mod  time.Time
}

func statFile(path string) fileStat {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{size: -1}
	}
	return fileStat{size: fi.Size(), mod: fi.ModTime()}
}

// pass brings the registry in line with the store:
//
//  1. plan (under planMu): read the store's models, versions and labels;
//     forget versions whose folders are gone; mark LOADING the versions
//     the policy wants and that are not loaded;
//  2. load them, one by one, without planMu (Lookup and SetLabel go on);
//  3. repeat while a load failed, since an older version may then be
//     wanted instead (a failed version is retried only in the first
//     round, when its file changed since it failed: a file still being
//     copied is tried once a pass, not in a tight loop);
//  4. unload (under planMu) what the policy no longer wants.
//
// New versions are loaded before old ones are unloaded, so a model always
// keeps a version to serve.
func (r *Registry) pass() {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	if r.closed.Load() {
		return
	}
	for round := range 1000 { // each round settles at least one version
		todo := r.plan(round == 0)
		if len(todo) == 0 {
			break
		}
		for _, j := range todo {
			if r.closed.Load() {
				return
			}
			r.load(j.name, j.version)
		}
	}
	r.unloadUnwanted()
}

type loadJob struct {
	name    string
	version int
}

func (r *Registry) versionPath(name string, v int) string {
	return filepath.Join(r.store.Root(), name, strconv.Itoa(v), modelstore.FileName)
}

// storeModel is one model as read from the store.
type storeModel struct {
	versions []int
	labels   map[string]int // nil: unreadable, keep what is known
}

// readStore reads the models, versions and labels of the store. ok is
// false when the store could not be listed at all (keep what is known).
func (r *Registry) readStore() (map[string]storeModel, bool) {
	names, err := r.store.List()
	if err != nil {
		r.log.Warn("model store unreadable", "err", err)
		return nil, false
	}
	out := make(map[string]storeModel, len(names))
	for _, name := range names {
		vs, err := r.store.Versions(name)
		if err != nil {
			if !errors.Is(err, modelstore.ErrNotFound) {
				r.log.Warn("versions unreadable", "model", name, "err", err)
			}
			continue
		}
		labels, err := r.store.Labels(name)
		if err != nil {
			r.log.Warn("labels unreadable, keeping the known ones", "model", name, "err", err)
			labels = nil
		}
		out[name] = storeModel{versions: vs, labels: labels}
	}
	return out, true
}

// plan updates the known models from the store and returns the versions
// to load, which it marks LOADING. retry: give failed versions whose file
// changed another try.
func (r *Registry) plan(retry bool) []loadJob {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	found, ok := r.readStore()
	if !ok {
		return nil
	}
	// Stat the model files of versions that failed, outside r.mu.
	type key struct {
		name string
		v    int
	}
	stats := map[key]fileStat{}
	r.mu.RLock()
	for name, st := range r.models {
		for v, vs := range st.versions {
			if vs.failed && retry {
				stats[key{name, v}] = fileStat{}
			}
		}
	}
	r.mu.RUnlock()
	for k := range stats {
		stats[k] = statFile(r.versionPath(k.name, k.v))
	}

	var todo []loadJob
	var retired []*model
	r.mu.Lock()
	defer func() {
		r.mu.Unlock()
		for _, m := range retired {
			m.retire()
		}
	}()
	for name, st := range r.models {
		if _, ok := found[name]; !ok { // the model's folder is gone
			for _, vs := range st.versions {
				if vs.m != nil {
					retired = append(retired, vs.m)
				}
			}
			delete(r.models, name)
			r.met.forgetModel(name)
			r.log.Info("model removed from the store", "model", name)
		}
	}
	for name, sm := range found {
		st, ok := r.models[name]
		if !ok {
			st = &modelState{versions: map[int]*versionState{}, labels: map[string]int{}}
			r.models[name] = st
		}
		if sm.labels != nil {
			st.labels = sm.labels
		}
		st.held = r.held[name]
		present := make(map[int]bool, len(sm.versions))
		for _, v := range sm.versions {
			present[v] = true
			if _, ok := st.versions[v]; !ok {
				st.versions[v] = &versionState{state: inference.StateStart}
			}
		}
		for v, vs := range st.versions {
			if !present[v] { // the version's folder is gone
				if vs.m != nil {
					retired = append(retired, vs.m)
					r.met.forgetVersion(name, v)
				}
				delete(st.versions, v)
				r.log.Info("version removed from the store", "model", name, "version", v)
			}
		}
		// A failed version whose file changed is worth another try, and
		// one that did not fit the budget, since others may have gone.
		for v, vs := range st.versions {
			if s, ok := stats[key{name, v}]; ok && vs.failed && (s != vs.stat || vs.overBudget) {
				vs.failed = false
				vs.state, vs.err = inference.StateStart, ""
			}
		}
		wanted := r.wanted(st, true)
		for _, v := range slices.Backward(sortedVersions(st.versions)) {
			vs := st.versions[v]
			switch {
			case wanted[v] && vs.m == nil && !vs.failed:
				vs.state, vs.err = inference.StateLoading, ""
				todo = append(todo, loadJob{name, v})
			case !wanted[v] && vs.m == nil && !vs.failed:
				vs.state, vs.err = inference.StateEnd, unloadedReason(st)
			}
		}
		r.met.setLoaded(name, loadedCount(st))
	}
	// Newest first within a model; models in name order, so a pass is
	// deterministic.
	slices.SortStableFunc(todo, func(a, b loadJob) int {
		if a.name != b.name {
			if a.name < b.name {
				return -1
			}
			return 1
		}
		return b.version - a.version
	})
	return todo
}

// wanted returns the versions the policy keeps loaded: every labelled
// version, and the newest KeepVersions among those that are loaded or
// may load (optimistic: not loaded yet and not failed). With optimistic
// false only loaded versions count, which is what unloading goes by.
// Caller holds r.mu.
func (r *Registry) wanted(st *modelState, optimistic bool) map[int]bool {
	w := map[int]bool{}
	if st.held {
		return w // the operator unloaded the model
	}
	for _, v := range st.labels {
		if _, ok := st.versions[v]; ok {
			w[v] = true
		}
	}
	n := 0
	for _, v := range slices.Backward(sortedVersions(st.versions)) {
		if n == r.opt.KeepVersions {
			break
		}
		vs := st.versions[v]
		if vs.m != nil || optimistic && !vs.failed {
			w[v] = true
			n++
		}
	}
	return w
}

func loadedCount(st *modelState) int {
	n := 0
	for _, vs := range st.versions {
		if vs.m != nil {
			n++
		}
	}
	return n
}

// load loads version v of name, which the caller marked LOADING, and
// records the outcome. The caller holds passMu or planMu, so the version
// cannot be forgotten meanwhile.
func (r *Registry) load(name string, v int) {
	path := r.versionPath(name, v)
	before := statFile(path)
	start := time.Now()
	fp, err := r.reserve(name, v, path)
	held := err == nil // fp.Peak() is reserved
	var a *artifact.Artifact
	if err == nil {
		a, err = artifact.Load(path)
		if err == nil && a.Model.InputSize() < 1 {
			err = errors.New("model takes no input")
		}
	}
	var m *model
	if err == nil {
		m = r.newModel(name, v, a)
		m.fp = fp
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if held {
		r.reserved -= fp.Peak()
	}
	st := r.models[name]
	var vs *versionState
	if st != nil {
		vs = st.versions[v]
	}
	if vs == nil || r.closed.Load() {
		if m != nil {
			m.retire()
		}
		return
	}
	if err != nil {
		vs.failed, vs.stat, vs.m = true, before, nil
		vs.overBudget = errors.Is(err, ErrOverBudget)
		vs.state, vs.err = inference.StateEnd, loadError(path, err)
		if vs.overBudget {
			if vs.saidBudget == vs.err {
				return // retried each pass: said once
			}
			vs.saidBudget = vs.err
		}
		r.met.loadFailed(name)
		r.log.Warn("version failed to load", "model", name, "version", v, "err", vs.err)
		return
	}
	vs.failed, vs.overBudget, vs.m = false, false, m
	vs.state, vs.err = inference.StateAvailable, ""
	r.met.setLoaded(name, loadedCount(st))
	r.log.Info("version loaded", "model", name, "version", v, "hash", a.Hash, "took", time.Since(start).Round(time.Microsecond))
}

// loadError says why a load failed, without the full path (the model and
// version are known to whoever reads it).
func loadError(path string, err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("no %s in the version folder", modelstore.FileName)
	}
	s := err.Error()
	if p := path + ": "; len(s) > len(p) && s[:len(p)] == p {
		s = s[len(p):]
	}
	return s
}

// unloadUnwanted unloads the loaded versions the policy no longer keeps.
func (r *Registry) unloadUnwanted() {
	r.planMu.Lock()
	defer r.planMu.Unlock()
	var retired []*model
	r.mu.Lock()
	for name, st := range r.models {
		wanted := r.wanted(st, false)
		for v, vs := range st.versions {
			if vs.m != nil && !wanted[v] {
				retired = append(retired, vs.m)
				vs.m = nil
				vs.state, vs.err = inference.StateEnd, unloadedReason(st)
				r.met.forgetVersion(name, v)
				r.log.Info("version unloaded", "model", name, "version", v)
			}
		}
		r.met.setLoaded(name, loadedCount(st))
	}
	r.mu.Unlock()
	for _, m := range retired {
		m.retire()
	}
}
