package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// JobManager is what the job routes need from a node's job manager;
// *job.Manager satisfies it.
//
// Concurrency contract: as for Node. Jobs returns copies; Subscribe never
// blocks the manager (it drops events for a full channel) and its cancel
// must be called once.
type JobManager interface {
	Submit(ctx context.Context, spec job.Spec) (job.Spec, error)
	Jobs() []job.Info
	// Outcome reports without blocking whether a job ended here, and how.
	Outcome(id string) (res *job.Result, ended bool, err error)
	Subscribe() (<-chan job.Event, func())
}

// JobRoutes returns the control API's job routes, to mount with
// ControlConfig.Routes (or ControlHandler.Handle):
//
//	POST /api/v1/jobs               submit a job (body: controlapi.JobSpec); 202 with the filled spec
//	                                once it is checked, when m is a JobStarter (the data is cut in
//	                                the background: follow the events); else 201 once it started
//	GET  /api/v1/jobs               controlapi.JobsResponse, newest first (?state=pending: only those)
//	GET  /api/v1/jobs/{id}          controlapi.Job
//	GET  /api/v1/jobs/{id}/history  controlapi.JobHistoryResponse: this node's figures over time
//	POST /api/v1/jobs/{id}/cancel   controlapi.CancelResponse (when m is a JobCanceler; else 501)
//	POST /api/v1/jobs/{id}/accept   controlapi.AnswerResponse: start a pending job (when m is a JobAnswerer; else 501)
//	POST /api/v1/jobs/{id}/decline  controlapi.AnswerResponse: refuse a pending job
//
// The history is recorded from m's events from this call on, by a
// goroutine that ends when m closes its event channel.
func JobRoutes(m JobManager) map[string]http.Handler {
	jr := jobRoutes{m: m, hist: newJobHistory()}
	jr.hist.follow(m)
	return map[string]http.Handler{
		"POST " + controlapi.PathJobs:                   http.HandlerFunc(jr.submit),
		"GET " + controlapi.PathJobs:                    http.HandlerFunc(jr.list),
		"GET " + controlapi.PathJobs + "/{id}":          http.HandlerFunc(jr.get),
		"GET " + controlapi.PathJobs + "/{id}/history":  http.HandlerFunc(jr.history),
		"POST " + controlapi.PathJobs + "/{id}/cancel":  http.HandlerFunc(jr.cancel),
		"POST " + controlapi.PathJobs + "/{id}/accept":  http.HandlerFunc(jr.answer(true)),
		"POST " + controlapi.PathJobs + "/{id}/decline": http.HandlerFunc(jr.answer(false)),
	}
}

// JobStarter is an optional interface of a JobManager (*job.Manager has
// it): Begin checks and names a submission and prepares it in the
// background, returning at once.
type JobStarter interface {
	Begin(spec job.Spec) (job.Spec, error)
}

// JobAnswerer is an optional interface of a JobManager (*job.Manager has
// it): the operator's answer to a job held under --jobs ask. Both fail
// with job.ErrUnknownJob, job.ErrNotPending, or (Accept) a job.ErrRefused
// when the node's limits refuse the job now.
type JobAnswerer interface {
	Accept(id string) error
	Decline(id string) error
}

func (jr jobRoutes) answer(accept bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		a, ok := jr.m.(JobAnswerer)
		if !ok {
			WriteError(w, http.StatusNotImplemented, "this node holds no jobs for an answer")
			return
		}
		// The body is optional ({} or none); nothing in it is read.
		var err error
		state := job.StateDeclined
		if accept {
			err, state = a.Accept(id), job.StateJoined
		} else {
			err = a.Decline(id)
		}
		switch {
		case err == nil:
			WriteJSON(w, http.StatusOK, controlapi.AnswerResponse{ID: id, State: state})
		case errors.Is(err, job.ErrUnknownJob):
			WriteError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, job.ErrNotPending), errors.Is(err, job.ErrRefused):
			WriteError(w, http.StatusConflict, err.Error())
		default:
			WriteError(w, http.StatusInternalServerError, err.Error())
		}
	}
}

// JobCanceler is an optional interface of a JobManager (*job.Manager has
// it): Cancel stops job id on this node and reports whether the cancel
// also went to the job's other members. It fails with job.ErrUnknownJob
// or job.ErrJobEnded.
type JobCanceler interface {
	Cancel(ctx context.Context, id string) (mesh bool, err error)
}

type jobRoutes struct {
	m    JobManager
	hist *jobHistory
}

// known reports whether the manager has job id.
func (jr jobRoutes) known(id string) bool {
	for _, in := range jr.m.Jobs() {
		if in.Spec.ID == id {
			return true
		}
	}
	return false
}

func (jr jobRoutes) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := jr.m.(JobCanceler)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node cannot cancel jobs")
		return
	}
	// The body is optional ({} or none); nothing in it is read yet.
	mesh, err := c.Cancel(r.Context(), id)
	switch {
	case err == nil:
		WriteJSON(w, http.StatusOK, controlapi.CancelResponse{ID: id, Mesh: mesh})
	case errors.Is(err, job.ErrUnknownJob):
		WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, job.ErrJobEnded):
		WriteError(w, http.StatusConflict, err.Error())
	default:
		WriteError(w, http.StatusInternalServerError, err.Error())
	}
}

func (jr jobRoutes) submit(w http.ResponseWriter, r *http.Request) {
	var spec job.Spec
	if err := DecodeRequest(w, r, MaxJobSpecBytes, &spec); err != nil {
		return // answered
	}
	if err := checkJobSpec(&spec); err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// A starter answers at once (cutting a large data set takes longer
	// than a client waits for a response); the rest is reported by
	// events and the job's state.
	code := http.StatusAccepted
	var filled job.Spec
	var err error
	if s, ok := jr.m.(JobStarter); ok {
		filled, err = s.Begin(spec)
	} else {
		code = http.StatusCreated
		filled, err = jr.m.Submit(r.Context(), spec)
	}
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone
		}
		if errors.Is(err, job.ErrRefused) {
			WriteError(w, http.StatusConflict, "job not started: "+err.Error())
			return
		}
		// Everything else Submit checks comes from the request: the spec
		// and the data it names (missing file, unreadable rows, one label).
		WriteError(w, http.StatusBadRequest, "job not started: "+err.Error())
		return
	}
	w.Header().Set("Location", controlapi.PathJobs+"/"+filled.ID)
	WriteJSON(w, code, specToAPI(filled))
}

func (jr jobRoutes) list(w http.ResponseWriter, r *http.Request) {
	infos := jr.m.Jobs()
	state := r.URL.Query().Get("state")
	out := controlapi.JobsResponse{Jobs: make([]controlapi.Job, 0, len(infos))}
	for _, in := range infos {
		if j := jr.toAPI(in); state == "" || j.State == state {
			out.Jobs = append(out.Jobs, j)
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

func (jr jobRoutes) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, in := range jr.m.Jobs() {
		if in.Spec.ID == id {
			WriteJSON(w, http.StatusOK, jr.toAPI(in))
			return
		}
	}
	WriteError(w, http.StatusNotFound, fmt.Sprintf("no job %q on this node", id))
}

// toAPI describes a job with its outcome: "done" only once the result is
// stored (the runner says done a moment earlier), "failed" with the error.
func (jr jobRoutes) toAPI(in job.Info) controlapi.Job {
	res, ended, err := jr.m.Outcome(in.Spec.ID)
	switch {
	case ended && err != nil:
		in.State = job.StateFailed
		if in.Self.Error == "" {
			in.Self.Error = err.Error()
		}
	case ended:
		in.State = job.StateDone
		if res != nil {
			in.Result = res
		}
	case in.State == job.StateDone || in.State == job.StateFailed:
		in.State = job.StateConsensus // still finishing
	}
	return jobToAPI(in)
}

// decodeJobSpec reads a job spec as POST /api/v1/jobs does (without the
// HTTP parts): at most MaxJobSpecBytes, strict JSON, then checkJobSpec.
func decodeJobSpec(b []byte) (job.Spec, error) {
	var spec job.Spec
	if err := controlapi.DecodeJSONStrict(bytes.NewReader(b), MaxJobSpecBytes, &spec); err != nil {
		return spec, err
	}
	return spec, checkJobSpec(&spec)
}

// checkJobSpec rejects what a submission must not carry, then checks the
// spec with the mesh's own rules (on a filled copy: Submit fills it again).
// Fields the node sets (id, submitter, created) are cleared, so a spec
// copied from `shoal jobs --json` can be submitted again.
func checkJobSpec(s *job.Spec) error {
	s.ID, s.Submitter, s.Created = "", "", 0
	if s.Data != "" && !filepath.IsAbs(s.Data) {
		return fmt.Errorf("data path %q is relative: the node reads it, so give an absolute path", s.Data)
	}
	c := *s
	c.Fill()
	if err := c.Validate(); err != nil {
		// Validate joins its errors with newlines; one line reads better.
		return errors.New("job spec: " + strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// finite maps NaN and ±Inf (a diverged peer) to 0, which JSON can carry.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func specToAPI(s job.Spec) controlapi.JobSpec {
	return controlapi.JobSpec{
		ID: s.ID, Name: s.Name, Model: s.Model, ModelSpec: slices.Clone(s.ModelSpec), Data: s.Data,
		Holdout: s.Holdout, Epochs: s.Epochs, Batch: s.Batch, LR: s.LR, Optimizer: s.Optimizer,
		LocalSteps: s.LocalSteps, Compress: s.Compress, Robust: s.Robust, OuterLR: s.OuterLR,
		Replication: s.Replication, MinPeers: s.MinPeers, TargetAccuracy: s.TargetAccuracy,
		Seed: s.Seed, Edge: s.Edge, Private: s.Private, ShardRows: s.ShardRows,
		Submitter: s.Submitter, Created: s.Created,
	}
}

func statusToAPI(s job.Status) controlapi.JobStatus {
	return controlapi.JobStatus{
		Peer: s.Peer, State: s.State, Epoch: s.Epoch, Step: s.Step, Steps: s.Steps,
		Loss: finite(s.Loss), Accuracy: finite(s.Accuracy), ConsensusDistance: finite(s.Distance),
		Rounds: s.Rounds, BytesSent: s.BytesSent, BytesRecv: s.BytesRecv,
		ModelHash: s.Hash, ModelVersion: s.Version, Error: s.Error, ShardsHeld: len(s.Have),
	}
}

func resultToAPI(r *job.Result) *controlapi.JobResult {
	if r == nil {
		return nil
	}
	return &controlapi.JobResult{
		ModelName: r.ModelName, ModelVersion: r.Version, ModelPath: r.ModelPath,
		ModelHash: r.ModelHash, ParamsHash: r.ParamsHash, ModelBytes: r.ModelBytes,
		Steps: r.Steps, Rounds: r.Rounds, ConsensusRounds: r.ConsensusRounds,
		Exchanges: r.Exchanges, Rejected: r.Rejected, BytesSent: r.BytesSent, BytesRecv: r.BytesRecv,
		ConsensusDistance: finite(r.Distance), ProbeAccuracy: finite(r.ProbeAccuracy), NonFinite: r.NonFinite,
	}
}

func jobToAPI(in job.Info) controlapi.Job {
	s, self := in.Spec, in.Self
	model := s.Model
	if len(s.ModelSpec) > 0 {
		model = "spec"
	}
	j := controlapi.Job{
		ID: s.ID, Name: s.Name, Model: model, State: in.State,
		Epoch: self.Epoch, Epochs: s.Epochs, Step: self.Step, Steps: self.Steps,
		Loss: finite(self.Loss), Accuracy: finite(self.Accuracy), ConsensusDistance: finite(self.Distance),
		Rounds: self.Rounds, BytesSent: self.BytesSent, BytesRecv: self.BytesRecv,
		Members: 1 + len(in.Members), ModelHash: self.Hash, ModelVersion: self.Version, Error: self.Error,
		Submitter: s.Submitter, Spec: specToAPI(s), Peers: make([]controlapi.JobStatus, 0, len(in.Members)),
		Result: resultToAPI(in.Result), Shards: in.Shards, ShardsHeld: in.ShardsHeld, Expires: in.Expires,
	}
	for _, r := range in.Refusals {
		j.Refusals = append(j.Refusals, refusalToAPI(r))
	}
	if j.State == "" {
		j.State = self.State
	}
	if s.Created != 0 {
		j.Created = s.SubmitTime()
	}
	if in.Result != nil {
		j.ModelHash, j.ModelVersion = in.Result.ModelHash, in.Result.Version
	}
	for _, st := range in.Members {
		j.Peers = append(j.Peers, statusToAPI(st))
	}
	slices.SortFunc(j.Peers, func(a, b controlapi.JobStatus) int { return strings.Compare(a.Peer, b.Peer) })
	return j
}

func refusalToAPI(r job.Refusal) controlapi.JobRefusal {
	return controlapi.JobRefusal{Peer: r.Peer, Reason: r.Reason, Detail: r.Detail, Time: r.Time}
}

// JobEventToAPI converts a job manager's event into the payload of a job_*
// event on the control API's stream.
func JobEventToAPI(e job.Event) *controlapi.JobEvent {
	out := &controlapi.JobEvent{ID: e.Job, Error: e.Error}
	if e.Refusal != nil {
		r := refusalToAPI(*e.Refusal)
		out.Refusal = &r
	}
	if e.Spec != nil {
		s := specToAPI(*e.Spec)
		out.Spec = &s
	}
	if e.Status != nil {
		s := statusToAPI(*e.Status)
		out.Status = &s
	}
	return out
}

// WithJobEvents returns node with the job manager's events merged into its
// event stream (job_announced, job_status, job_done, job_failed), so
// /api/v1/events carries them next to the peer events.
func WithJobEvents(node Node, m JobManager) Node { return jobEventsNode{Node: node, m: m} }

type jobEventsNode struct {
	Node
	m JobManager
}

// Subscribe merges both sources on one goroutine. It never blocks either
// source for long: both drop events for a full channel, and this goroutine
// waits only on its reader or on cancel. When the job manager closes (node
// shutting down) peer events go on alone; when the node's channel closes,
// the merged one closes.
func (n jobEventsNode) Subscribe() (<-chan controlapi.Event, func()) {
	peers, cancelPeers := n.Node.Subscribe()
	jobs, cancelJobs := n.m.Subscribe()
	out := make(chan controlapi.Event, 64)
	done := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(out)
		for {
			var ev controlapi.Event
			select {
			case <-done:
				return
			case pe, ok := <-peers:
				if !ok {
					return
				}
				ev = pe
			case je, ok := <-jobs:
				if !ok {
					jobs = nil // a nil channel is never ready
					continue
				}
				ev = jobEvent(je)
			}
			select {
			case out <- ev:
			case <-done:
				return
			}
		}
	}()
	return out, func() {
		once.Do(func() {
			close(done)
			cancelJobs()
			cancelPeers()
		})
	}
}

// jobEvent is the control API event for a job event; its Job field says
// which job changed and carries the spec or status the manager sent.
func jobEvent(e job.Event) controlapi.Event {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	return controlapi.Event{Type: e.Type, Time: t, Job: JobEventToAPI(e)}
}

// MeshID passes on the wrapped node's MeshIdentity ("" without one).
func (n jobEventsNode) MeshID() string {
	if mi, ok := n.Node.(MeshIdentity); ok {
		return mi.MeshID()
	}
	return ""
}

// Deny passes on the wrapped node's PeerDenier.
func (n jobEventsNode) Deny(id string) error {
	if d, ok := n.Node.(PeerDenier); ok {
		return d.Deny(id)
	}
	return ErrNotSupported
}
