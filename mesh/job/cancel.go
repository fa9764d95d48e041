package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/atomicfile"
)

// Errors of Cancel.
var (
	ErrUnknownJob = errors.New("job unknown on this peer")
	ErrJobEnded   = errors.New("job already ended on this peer")
)

// CanceledError is the error a canceled job fails with on a peer: By is the
// peer whose operator canceled it (this peer's own, or the submitter's).
type CanceledError struct{ By string }

func (e *CanceledError) Error() string { return "canceled by the operator of " + e.By }

// Cancel stops job id on this peer: its run ends as failed with a
// *CanceledError, the job is marked ended in the data dir (no resume after
// a restart, re-announcements ignored), and what it published stays. When
// this peer submitted the job, Cancel also sends a cancel message on the
// jobs topic and every member stops too; it reports mesh = true then.
//
// Members honour a cancel only from the job's submitter (the message's
// signed origin): membership of the mesh is no licence to stop other
// members' work. A member that is not the submitter only leaves the job
// (the others go on without it, as when a member dies).
func (m *Manager) Cancel(ctx context.Context, id string) (mesh bool, err error) {
	m.mu.Lock()
	js, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return false, fmt.Errorf("job %s: %w", id, ErrUnknownJob)
	}
	select {
	case <-js.done:
		return false, fmt.Errorf("job %s: %w", id, ErrJobEnded)
	default:
	}
	self := m.node.ID().String()
	m.stop(js, self)
	if js.ann.Spec.Submitter != self {
		return false, nil
	}
	b, err := encodeEnvelope(envelope{V: messageVersion, Kind: kindCancel, Cancel: &CancelMessage{Job: id}})
	if err != nil {
		return false, err
	}
	if err := m.topic.Publish(ctx, b); err != nil {
		return false, fmt.Errorf("job %s stopped here, but the cancel did not reach the mesh: %w", id, err)
	}
	return true, nil
}

// stop cancels js's run with a CanceledError naming by, and marks the job
// ended in the data dir so neither a restart nor a late re-announcement
// starts it again.
//
// The marker is written first: whoever sees the run end finds it.
func (m *Manager) stop(js *jobState, by string) {
	if dir := m.jobDir(js.ann.Spec.ID); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err == nil {
			_ = atomicfile.WriteFile(filepath.Join(dir, "done"), []byte("canceled by "+by+" at "+time.Now().UTC().Format(time.RFC3339)+"\n"))
		}
	}
	js.cancel(&CanceledError{By: by})
}

// CancelMessage asks every member of a job to stop it (sent by its
// submitter; see Cancel).
type CancelMessage struct {
	Job string `json:"job"`
}

func (c *CancelMessage) validate() error {
	if !validID(c.Job) {
		return fmt.Errorf("cancel: bad job id %q", c.Job)
	}
	return nil
}

// onCancel handles a cancel heard on the topic from peer from.
func (m *Manager) onCancel(from peer.ID, c CancelMessage) {
	m.mu.Lock()
	js, ok := m.jobs[c.Job]
	m.mu.Unlock()
	if !ok {
		return
	}
	if js.ann.Spec.Submitter != from.String() {
		m.log.Warn("ignoring a cancel from a peer that did not submit the job", "job", c.Job, "peer", from.String())
		return
	}
	select {
	case <-js.done:
		return
	default:
	}
	m.log.Info("job canceled by its submitter", "job", c.Job, "peer", from.String())
	m.stop(js, from.String())
}

// canceled returns the cause of a canceled run's end (nil when the run
// ended for another reason).
func canceled(ctx context.Context) error {
	var ce *CanceledError
	if errors.As(context.Cause(ctx), &ce) {
		return ce
	}
	return nil
}
