package controlapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// JobPath returns the path of a job's route: JobPath("ab", "history") is
// "/api/v1/jobs/ab/history"; with no parts, the job itself.
func JobPath(id string, parts ...string) string {
	p := PathJobs + "/" + url.PathEscape(id)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// JobPoint is one point of a job's history on the answering node: this
// node's own figures at one status step (the charts of the console).
type JobPoint struct {
	Time              time.Time `json:"time"`
	State             string    `json:"state"`
	Epoch             int       `json:"epoch"`
	Step              int       `json:"step"`
	Loss              float64   `json:"loss"`
	Accuracy          float64   `json:"accuracy"`
	ConsensusDistance float64   `json:"consensus_distance"`
}

// JobHistoryResponse is the body of GET JobPath(id, "history"): the
// points in order. The node keeps a bounded number per job (thinning older
// points evenly when full), in memory since it started.
type JobHistoryResponse struct {
	ID     string     `json:"id"`
	Points []JobPoint `json:"points"`
}

// CancelResponse answers POST JobPath(id, "cancel").
type CancelResponse struct {
	ID string `json:"id"`
	// Mesh says the cancel was also sent on the job's topic, so the other
	// members stop too (only the job's submitter can stop the others; a
	// cancel from another member stops the job on that member only).
	Mesh bool `json:"mesh"`
}

// JobHistory returns the history of job id on the node.
func (c *Client) JobHistory(ctx context.Context, id string) ([]JobPoint, error) {
	if id == "" {
		return nil, errors.New("no job id")
	}
	var r JobHistoryResponse
	if err := c.getJSON(ctx, JobPath(id, "history"), &r); err != nil {
		return nil, err
	}
	if r.Points == nil {
		r.Points = []JobPoint{}
	}
	return r.Points, nil
}

// CancelJob stops job id on the node (and, when the node submitted it, on
// every member). A job that already ended gives an *APIError with status
// 409, an unknown one 404.
func (c *Client) CancelJob(ctx context.Context, id string) (CancelResponse, error) {
	var out CancelResponse
	if id == "" {
		return out, errors.New("no job id")
	}
	err := c.sendJSON(ctx, http.MethodPost, JobPath(id, "cancel"), struct{}{}, &out, false)
	return out, err
}

// AnswerResponse answers POST JobPath(id, "accept") and JobPath(id,
// "decline"): the job's state on the node after the answer (joined once
// accepted, declined).
type AnswerResponse struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// AcceptJob starts job id, held for this node's operator (shoal up --jobs
// ask). A job that is not pending gives an *APIError with status 409 (it
// was declined, expired or runs already; or the node's job cap or memory
// budget refuses it now, and it stays pending), an unknown one 404.
func (c *Client) AcceptJob(ctx context.Context, id string) (AnswerResponse, error) {
	return c.answerJob(ctx, id, "accept")
}

// DeclineJob refuses job id, held for this node's operator; the job's
// submitter hears so. Errors as for AcceptJob.
func (c *Client) DeclineJob(ctx context.Context, id string) (AnswerResponse, error) {
	return c.answerJob(ctx, id, "decline")
}

func (c *Client) answerJob(ctx context.Context, id, answer string) (AnswerResponse, error) {
	var out AnswerResponse
	if id == "" {
		return out, errors.New("no job id")
	}
	err := c.sendJSON(ctx, http.MethodPost, JobPath(id, answer), struct{}{}, &out, false)
	return out, err
}
