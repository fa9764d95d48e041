package serve

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// maxHistoryPoints bounds each job's history. When it is full every other
// point is dropped, so a long job keeps its whole course at a coarser
// grain rather than only its end: charts are a few dozen cells wide anyway.
const maxHistoryPoints = 512

// maxHistoryJobs bounds how many jobs keep a history; the oldest recorded
// one is forgotten first.
const maxHistoryJobs = 64

// jobHistory records this node's own status of every job as it changes,
// so a console that connects (or reconnects) late can draw the job's loss
// and accuracy from the start. It lives in memory: a restarted node starts
// a resumed job's history afresh.
type jobHistory struct {
	mu    sync.Mutex
	jobs  map[string][]controlapi.JobPoint
	order []string // job ids, oldest recorded first
}

func newJobHistory() *jobHistory { return &jobHistory{jobs: map[string][]controlapi.JobPoint{}} }

// follow records the manager's events until its channel closes (the
// manager shut down). The events do not say which statuses are this
// node's own; the jobs do (Info.Self.Peer), so the node's id is read from
// them once a status arrives.
func (h *jobHistory) follow(m JobManager) {
	events, cancel := m.Subscribe()
	go func() {
		defer cancel()
		self := ""
		for e := range events {
			if e.Status == nil {
				continue
			}
			if self == "" {
				for _, in := range m.Jobs() {
					if in.Self.Peer != "" {
						self = in.Self.Peer
						break
					}
				}
			}
			if e.Status.Peer == self {
				h.add(e.Job, *e.Status, e.Time)
			}
		}
	}()
}

// add records st unless it repeats the last point (heartbeats resend the
// same status).
func (h *jobHistory) add(id string, st job.Status, t time.Time) {
	if t.IsZero() {
		t = time.Now()
	}
	p := controlapi.JobPoint{Time: t, State: st.State, Epoch: st.Epoch, Step: st.Step,
		Loss: finite(st.Loss), Accuracy: finite(st.Accuracy), ConsensusDistance: finite(st.Distance)}
	h.mu.Lock()
	defer h.mu.Unlock()
	pts, known := h.jobs[id]
	if n := len(pts); n > 0 {
		last := pts[n-1]
		if last.State == p.State && last.Step == p.Step && last.Loss == p.Loss && last.Accuracy == p.Accuracy && last.ConsensusDistance == p.ConsensusDistance {
			return
		}
	}
	if !known {
		h.order = append(h.order, id)
		if len(h.order) > maxHistoryJobs {
			delete(h.jobs, h.order[0])
			h.order = h.order[1:]
		}
	}
	if len(pts) >= maxHistoryPoints {
		kept := pts[:0]
		for i, q := range pts {
			if i%2 == 0 || i == len(pts)-1 {
				kept = append(kept, q)
			}
		}
		pts = kept
	}
	h.jobs[id] = append(pts, p)
}

func (h *jobHistory) points(id string) ([]controlapi.JobPoint, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pts, ok := h.jobs[id]
	return append([]controlapi.JobPoint{}, pts...), ok
}

// historyRoute answers GET /api/v1/jobs/{id}/history.
func (jr jobRoutes) history(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pts, ok := jr.hist.points(id)
	if !ok && !jr.known(id) {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no job %q on this node", id))
		return
	}
	WriteJSON(w, http.StatusOK, controlapi.JobHistoryResponse{ID: id, Points: pts})
}
