package controlapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// PathJobs lists jobs (GET) and submits one (POST); PathJobs + "/{id}" is
// one job.
const PathJobs = "/api/v1/jobs"

// Job event types carried on PathEvents next to the peer events.
const (
	EventJobAnnounced = "job_announced" // this peer heard of (or submitted) a job
	EventJobStatus    = "job_status"    // progress of this peer or of a member
	EventJobDone      = "job_done"      // the job ended on this peer with a model
	EventJobFailed    = "job_failed"    // the job ended on this peer without one
	// EventJobPreparing: a submission of this node's is named and its data
	// is being cut into shards (POST PathJobs answers before that ends).
	EventJobPreparing = "job_preparing"
	// EventJobPending: an announced job waits for this node's operator
	// (shoal up --jobs ask); EventJobDeclined and EventJobExpired end it.
	EventJobPending  = "job_pending"
	EventJobDeclined = "job_declined"
	EventJobExpired  = "job_expired"
	// EventJobRefused: this node refused a job; EventJobPeerRefused:
	// another peer refused a job this node submitted (Refusal says who
	// and why).
	EventJobRefused     = "job_refused"
	EventJobPeerRefused = "job_peer_refused"
)

// States of a peer in a job, in order (the same words as the mesh uses).
const (
	JobJoined    = "joined"
	JobFetching  = "fetching"
	JobTraining  = "training"
	JobTrained   = "trained"
	JobConsensus = "consensus"
	JobDone      = "done"
	JobFailed    = "failed"
	// JobPreparing: a submission whose data this node is still cutting.
	JobPreparing = "preparing"
	// JobPending: a job held for this node's operator (--jobs ask), who
	// accepts or declines it; JobDeclined and JobExpired (no answer in
	// time) are how a held job ends without running.
	JobPending  = "pending"
	JobDeclined = "declined"
	JobExpired  = "expired"
)

// JobEnded reports whether state is final on a peer (done, failed, or a
// held job declined or expired).
func JobEnded(state string) bool {
	return state == JobDone || state == JobFailed || state == JobDeclined || state == JobExpired
}

// JobRefusal is one peer's refusal of a job the answering node submitted.
type JobRefusal struct {
	Peer string `json:"peer"`
	// Reason is one word: policy (the peer joins no jobs of others),
	// declined, expired (its operator did not answer), busy (its job
	// cap), memory (over its budget), edge (an edge peer, the job does
	// not ask for them) or invalid.
	Reason string    `json:"reason"`
	Detail string    `json:"detail"` // the peer's own words
	Time   time.Time `json:"time"`
}

// JobSpec is a training job as submitted: the JSON body of POST PathJobs
// and the "spec" of every job. Zero fields take the node's defaults. It
// mirrors the mesh's job spec field for field (this package must not import
// the mesh); the node rejects fields it does not know.
type JobSpec struct {
	ID   string `json:"id,omitempty"` // set by the node: a hash of the rest
	Name string `json:"name,omitempty"`
	// Model is a preset name (mlp, cnn, lstm-text, seed-text, logreg);
	// ModelSpec, when set, is an inline model spec (JSON) and wins.
	Model     string          `json:"model,omitempty"`
	ModelSpec json.RawMessage `json:"model_spec,omitempty"`
	// Data is a path the node reads (absolute: the node does not share the
	// client's working directory).
	Data           string  `json:"data"`
	Holdout        float64 `json:"holdout,omitempty"`
	Epochs         int     `json:"epochs,omitempty"`
	Batch          int     `json:"batch,omitempty"`
	LR             float64 `json:"lr,omitempty"`
	Optimizer      string  `json:"optimizer,omitempty"`
	LocalSteps     int     `json:"local_steps,omitempty"` // H: local steps between averaging rounds
	Compress       string  `json:"compress,omitempty"`    // none, fp16, int8
	Robust         string  `json:"robust,omitempty"`      // none, clip
	OuterLR        float64 `json:"outer_lr,omitempty"`
	Replication    int     `json:"replication,omitempty"` // owners per shard
	MinPeers       int     `json:"min_peers,omitempty"`   // members (submitter included) before training starts
	TargetAccuracy float64 `json:"target_accuracy,omitempty"`
	Seed           uint64  `json:"seed,omitempty"`
	Edge           bool    `json:"edge,omitempty"`    // edge peers join too
	Private        bool    `json:"private,omitempty"` // each peer trains on its own local data
	ShardRows      int     `json:"shard_rows,omitempty"`
	Submitter      string  `json:"submitter,omitempty"` // set by the node
	Created        int64   `json:"created,omitempty"`   // unix seconds, set by the node
}

// JobStatus is one member's progress in a job.
type JobStatus struct {
	Peer              string  `json:"peer"`
	State             string  `json:"state"`
	Epoch             int     `json:"epoch"`
	Step              int     `json:"step"`
	Steps             int     `json:"steps"`
	Loss              float64 `json:"loss"`
	Accuracy          float64 `json:"accuracy"` // on the job's hold-out probe
	ConsensusDistance float64 `json:"consensus_distance"`
	Rounds            int     `json:"rounds"`
	BytesSent         int64   `json:"bytes_sent"`
	BytesRecv         int64   `json:"bytes_recv"`
	ModelHash         string  `json:"model_hash,omitempty"`
	ModelVersion      int     `json:"model_version,omitempty"`
	Error             string  `json:"error,omitempty"`
	// ShardsHeld is how many of the job's shards the member last said it
	// holds (the shard map, one count a member).
	ShardsHeld int `json:"shards_held"`
}

// JobResult is how a job ended on the node answering.
type JobResult struct {
	ModelName         string  `json:"model_name"`
	ModelVersion      int     `json:"model_version"`
	ModelPath         string  `json:"model_path"`
	ModelHash         string  `json:"model_hash"`  // SHA-256 of the model file
	ParamsHash        string  `json:"params_hash"` // SHA-256 of the final parameters
	ModelBytes        int64   `json:"model_bytes"`
	Steps             int     `json:"steps"`
	Rounds            int     `json:"averaging_rounds"`
	ConsensusRounds   int     `json:"consensus_rounds"`
	Exchanges         int64   `json:"exchanges"`
	Rejected          int64   `json:"rejected"`
	BytesSent         int64   `json:"bytes_sent"`
	BytesRecv         int64   `json:"bytes_recv"`
	ConsensusDistance float64 `json:"consensus_distance"`
	ProbeAccuracy     float64 `json:"probe_accuracy"`
	NonFinite         int     `json:"non_finite_seen"`
}

// Job is one job as the answering node knows it: the flat fields are this
// node's own progress (what `shoal jobs` shows), Spec the whole job, Peers
// the latest status heard from every other member. The JSON form is stable:
// fields are only ever added. Non-finite figures are sent as 0.
type Job struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Model             string  `json:"model"` // preset, or "spec" for an inline model
	State             string  `json:"state"`
	Epoch             int     `json:"epoch"`
	Epochs            int     `json:"epochs"`
	Step              int     `json:"step"`
	Steps             int     `json:"steps"`
	Loss              float64 `json:"loss"`
	Accuracy          float64 `json:"accuracy"`
	ConsensusDistance float64 `json:"consensus_distance"`
	Rounds            int     `json:"rounds"`
	BytesSent         int64   `json:"bytes_sent"`
	BytesRecv         int64   `json:"bytes_recv"`
	// Members counts the peers in the job as heard by this node, itself
	// included (members that went silent are still counted).
	Members      int         `json:"members"`
	ModelHash    string      `json:"model_hash,omitempty"`
	ModelVersion int         `json:"model_version,omitempty"`
	Error        string      `json:"error,omitempty"`
	Submitter    string      `json:"submitter"`
	Created      time.Time   `json:"created,omitzero"`
	Spec         JobSpec     `json:"spec"`
	Peers        []JobStatus `json:"peers"` // sorted by peer id
	// Shards is the job's shard count and ShardsHeld this node's share of
	// them (0 for private-data jobs).
	Shards     int        `json:"shards,omitempty"`
	ShardsHeld int        `json:"shards_held"`
	Result     *JobResult `json:"result,omitempty"`
	// Refusals are the peers that refused the job, by peer id: kept by
	// the job's submitter only.
	Refusals []JobRefusal `json:"refusals,omitempty"`
	// Expires is when a pending job is refused unanswered.
	Expires time.Time `json:"expires,omitzero"`
}

// JobsResponse is the body of GET PathJobs, newest job first.
type JobsResponse struct {
	Jobs []Job `json:"jobs"`
}

// JobEvent is the "job" payload of a job_* event.
type JobEvent struct {
	ID      string      `json:"id"`
	Spec    *JobSpec    `json:"spec,omitempty"`    // job_announced, job_preparing, job_pending, ...
	Status  *JobStatus  `json:"status,omitempty"`  // job_status, job_done, job_failed
	Refusal *JobRefusal `json:"refusal,omitempty"` // job_peer_refused
	Error   string      `json:"error,omitempty"`   // job_refused, job_failed: why
}

// maxSpecResponse bounds the answer to a submission (the spec echoed back).
const maxSpecResponse = 1 << 20

// SubmitJob submits spec to the node, which cuts the data, announces the job
// on the mesh and starts it. It returns the spec as filled in by the node
// (defaults, id). A spec the node rejects gives an *APIError with status 400
// naming the problem.
func (c *Client) SubmitJob(ctx context.Context, spec JobSpec) (JobSpec, error) {
	var out JobSpec
	body, err := json.Marshal(spec)
	if err != nil {
		return out, err
	}
	if _, ok := ctx.Deadline(); !ok {
		// Cutting a large data set into shards takes a while; still bounded.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
	}
	resp, err := c.do(ctx, http.MethodPost, PathJobs, "application/json", body)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := DecodeJSON(resp.Body, maxSpecResponse, &out); err != nil {
		return out, fmt.Errorf("shoal node at %s: POST %s: %w", c.addr, PathJobs, err)
	}
	return out, nil
}

// Jobs lists the jobs the node knows, newest first.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var r JobsResponse
	if err := c.getJSON(ctx, PathJobs, &r); err != nil {
		return nil, err
	}
	if r.Jobs == nil {
		r.Jobs = []Job{}
	}
	return r.Jobs, nil
}

// PendingJobs lists the jobs that wait for this node's operator to accept
// or decline them (shoal up --jobs ask), newest first.
func (c *Client) PendingJobs(ctx context.Context) ([]Job, error) {
	var r JobsResponse
	if err := c.getJSON(ctx, PathJobs+"?state="+JobPending, &r); err != nil {
		return nil, err
	}
	if r.Jobs == nil {
		r.Jobs = []Job{}
	}
	return r.Jobs, nil
}

// Job returns one job; an unknown id gives an *APIError with status 404.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	var j Job
	if id == "" {
		return j, errors.New("no job id")
	}
	err := c.getJSON(ctx, PathJobs+"/"+url.PathEscape(id), &j)
	return j, err
}

// jobPoll is how often WaitJob asks for the job's state when no event comes:
// events may be dropped for a slow client, so they are only a hint.
const jobPoll = 2 * time.Second

// WaitJob follows job id until it ends on the node and returns its final
// state. progress, if set, is called (on the caller's goroutine) with each
// new state seen. Job events on the event stream trigger a fresh look at the
// job; without events it still looks every few seconds. A job that failed
// is returned together with an error carrying its message.
func (c *Client) WaitJob(ctx context.Context, id string, progress func(Job)) (Job, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Subscribe first, then read the state: nothing can happen in between
	// without an event or the state showing it.
	events, err := c.Events(ctx)
	if err != nil {
		return Job{}, err
	}
	tick := time.NewTicker(jobPoll)
	defer tick.Stop()
	var last Job
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			return last, err
		}
		last = j
		if progress != nil {
			progress(j)
		}
		if j.State == JobDone {
			return j, nil
		}
		if JobEnded(j.State) {
			return j, c.jobFailed(id, j)
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return last, ctx.Err()
			case <-tick.C:
				break wait
			case ev, ok := <-events:
				if !ok {
					if ctx.Err() != nil {
						return last, ctx.Err()
					}
					// The node went away (or dropped us): one last look
					// tells which.
					j, err := c.Job(ctx, id)
					if err == nil && JobEnded(j.State) {
						if progress != nil {
							progress(j)
						}
						if j.State != JobDone {
							return j, c.jobFailed(id, j)
						}
						return j, nil
					}
					return last, fmt.Errorf("shoal node at %s: event stream ended before job %s did", c.addr, id)
				}
				if strings.HasPrefix(ev.Type, "job_") {
					break wait
				}
			}
		}
	}
}

// jobFailed is WaitJob's error for a job that ended in failure.
func (c *Client) jobFailed(id string, j Job) error {
	msg := j.Error
	if msg == "" {
		msg = "no reason given"
	}
	if j.State != JobFailed {
		return fmt.Errorf("job %s %s on %s", id, j.State, c.addr) // declined or expired
	}
	return fmt.Errorf("job %s failed on %s: %s", id, c.addr, msg)
}
