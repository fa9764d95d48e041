package job

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/shoalmesh/shoal/engine/clip"
)

// A submission is answered as soon as its spec is checked: cutting a large
// data set into shards takes minutes, longer than a client should hold a
// request open (the control API's clients give up on a response after
// 15 s). Begin names the job and returns; the data is cut, the job
// announced and started in the background, and progress is reported by
// events (job_preparing, then job_announced, or job_failed). Meanwhile
// the job is listed as preparing.

// StatePreparing is the state of a submission whose data is being cut here
// (Info.State); it never goes out in a status.
const StatePreparing = "preparing"

// preparingJob is a submission of this node's between Begin and its start.
type preparingJob struct {
	spec  Spec
	err   error // why preparing it failed; nil while it runs
	ended time.Time
	done  chan struct{}
}

// Submit is Begin, then waits until the job runs here (or failed to
// start) or ctx ends. It returns the filled spec with its id.
func (m *Manager) Submit(ctx context.Context, spec Spec) (Spec, error) {
	spec, err := m.Begin(spec)
	if err != nil {
		return spec, err
	}
	m.mu.Lock()
	p := m.preparing[spec.ID]
	m.mu.Unlock()
	if p == nil {
		return spec, nil // started already (or submitted before)
	}
	select {
	case <-p.done:
		return spec, p.err
	case <-ctx.Done():
		return spec, ctx.Err()
	}
}

// Begin checks spec, fills it and names its job, and starts preparing it in
// the background: cut its data into shards, check it against this peer's
// admission rules, start it here and announce it. What Begin can check
// without reading the data it checks itself (the spec, that the data path
// exists, the job cap), so that a submission refused for those reasons is
// answered at once. The same spec submitted twice in one second names the
// same job; the second Begin then changes nothing.
func (m *Manager) Begin(spec Spec) (Spec, error) {
	spec.Fill()
	if err := spec.Validate(); err != nil {
		return spec, err
	}
	kind, err := m.dataKind(spec)
	if err != nil {
		return spec, err
	}
	if spec.Batch == 0 {
		// The id hashes the whole spec, batch included, so the default
		// batch is set before the data is read: it depends on the data's
		// kind only, which the path tells.
		spec.Batch = DefaultBatch(kind)
	}
	spec.Submitter = m.node.ID().String()
	spec.Created = time.Now().Unix()
	spec.assignID()
	if n := m.running(spec.ID); n >= m.cfg.MaxJobs {
		return spec, refused(RefusedBusy, "%d jobs already run here, the limit (shoal up --max-jobs %d)", n, m.cfg.MaxJobs)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return spec, errors.New("job: manager closed")
	}
	if m.jobs[spec.ID] != nil || m.preparing[spec.ID] != nil {
		m.mu.Unlock()
		return spec, nil
	}
	p := &preparingJob{spec: spec, done: make(chan struct{})}
	m.preparing[spec.ID] = p
	m.wg.Add(1)
	m.mu.Unlock()
	m.emit(Event{Type: "job_preparing", Job: spec.ID, Spec: &spec, Time: time.Now()})
	go func() {
		defer m.wg.Done()
		err := m.launch(spec, kind)
		m.mu.Lock()
		if err != nil {
			p.err, p.ended = err, time.Now()
		} else {
			delete(m.preparing, spec.ID) // listed as a running job now
		}
		m.mu.Unlock()
		close(p.done)
		if err != nil {
			m.log.Warn("job not started", "job", spec.ID, "err", err)
			st := Status{Job: spec.ID, Peer: spec.Submitter, State: StateFailed, Error: clip.String(err.Error(), maxStatusError)}
			m.emit(Event{Type: "job_failed", Job: spec.ID, Status: &st, Error: err.Error(), Time: p.ended})
			m.prune()
		}
	}()
	return spec, nil
}

// launch cuts spec's data, admits the job here, starts it and announces it.
func (m *Manager) launch(spec Spec, kind string) error {
	manifest, err := m.prepare(spec)
	if err != nil {
		return err
	}
	if manifest.Kind != kind {
		return fmt.Errorf("data %s read as %s, expected %s", spec.Data, manifest.Kind, kind)
	}
	ann := Announcement{Spec: spec, Manifest: manifest}
	if err := ann.verify(); err != nil { // as every peer's topic validator will
		return err
	}
	if err := m.admit(ann, true); err != nil {
		return err
	}
	if err := m.start(ann); err != nil {
		return err
	}
	// From here on the job runs: a first announcement that does not go
	// out is no failure, the repeats below carry it.
	if err := m.announce(m.ctx, ann); err != nil {
		m.log.Warn("job announcement not sent; it is repeated", "job", spec.ID, "err", err)
	}
	// Peers whose subscription we had not yet seen miss the first
	// announcement; repeat it until enough members joined.
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.reannounce(ann)
	}()
	return nil
}

// manifestOf cuts spec's data into this peer's shard store.
func (m *Manager) manifestOf(spec Spec) (Manifest, error) {
	manifest, _, err := m.cut(spec)
	return manifest, err
}

// dataKind says what kind of data spec names, as the data preparation
// will read it (train.PrepareData): a folder holds images, a file text.
func (m *Manager) dataKind(spec Spec) (string, error) {
	path := spec.Data
	if spec.Private {
		p, err := m.privatePath(spec)
		if err != nil {
			return "", err
		}
		path = p
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--data: %s: no such file or folder", path)
	case err != nil:
		return "", fmt.Errorf("--data: %w", err)
	case st.IsDir():
		return "image", nil
	}
	return "text", nil
}
