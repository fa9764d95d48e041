package job

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoalmesh/shoal/engine/atomicfile"
	"github.com/shoalmesh/shoal/engine/jsonx"
)

// persist writes the announcement into <DataDir>/jobs/<id>/job.json.
func (m *Manager) persist(ann Announcement) error {
	dir := m.jobDir(ann.Spec.ID)
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(ann)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "job.json"), b)
}

// jobDir is job id's folder in the data dir ("" without a data dir).
func (m *Manager) jobDir(id string) string {
	if m.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(m.cfg.DataDir, "jobs", id)
}

// finished reports whether job id has a "done" marker in the data dir.
func (m *Manager) finished(id string) bool {
	dir := m.jobDir(id)
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "done"))
	return err == nil
}

// resume restarts every job in the data dir that has no "done" marker.
func (m *Manager) resume() {
	if m.cfg.DataDir == "" {
		return
	}
	entries, err := os.ReadDir(filepath.Join(m.cfg.DataDir, "jobs"))
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(m.cfg.DataDir, "jobs", e.Name())
		if m.finished(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "job.json"))
		if err != nil {
			continue
		}
		ann, err := decodeAnnouncementFile(b)
		if err != nil {
			m.log.Warn("cannot resume job", "dir", dir, "err", err)
			continue
		}
		if !m.edgeMayRun(ann.Spec) {
			// Joined while this node ran as a full peer: as an edge
			// peer it takes no shards of a job that did not ask for it.
			m.log.Info("not resuming a job that asks for no edge peers (this node runs with --role edge)", "job", ann.Spec.ID)
			continue
		}
		m.log.Info("resuming job", "job", ann.Spec.ID)
		_ = m.start(ann)
	}
}

// decodeAnnouncementFile reads back what persist wrote and validates it as
// an announcement heard on the topic would be.
func decodeAnnouncementFile(b []byte) (Announcement, error) {
	var ann Announcement
	if len(b) > maxMessage {
		return ann, fmt.Errorf("job file of %d bytes exceeds %d", len(b), maxMessage)
	}
	// Lenient on unknown fields: the file may come from a newer shoal that
	// ran on this data dir before.
	if err := jsonx.Decode(b, &ann); err != nil {
		return ann, err
	}
	return ann, ann.validate()
}
