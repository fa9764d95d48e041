package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve"
)

// nodeJobs runs the training jobs of a `shoal up` node and gives the
// control API its job routes and events, and the heartbeats the node's
// models (see runUp).
type nodeJobs struct {
	m      *job.Manager
	models *modelstore.Store
}

// startJobs opens the node's model store (<dataDir>/models) and starts its
// job manager, which resumes the unfinished jobs found in <dataDir>/jobs.
func startJobs(node *mesh.Node, dataDir, role string, log *slog.Logger) (*nodeJobs, error) {
	if dataDir == "" {
		return nil, fmt.Errorf("jobs: no data dir")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	models, err := modelstore.Open(filepath.Join(dataDir, "models"))
	if err != nil {
		return nil, fmt.Errorf("model store: %w", err)
	}
	m, err := job.NewManager(job.Config{Node: node, DataDir: dataDir, Models: models, Role: role, Logger: log.With("part", "jobs")})
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return &nodeJobs{m: m, models: models}, nil
}

// Manager is the node's job manager.
func (j *nodeJobs) Manager() *job.Manager { return j.m }

// Models is the node's model store (<dataDir>/models), the one its jobs
// publish to.
func (j *nodeJobs) Models() *modelstore.Store { return j.models }

// Routes are the control API's job routes.
func (j *nodeJobs) Routes() map[string]http.Handler { return serve.JobRoutes(j.m) }

// ControlNode adds the job events to n's event stream.
func (j *nodeJobs) ControlNode(n serve.Node) serve.Node { return serve.WithJobEvents(n, j.m) }

// Close stops the jobs on this node; their checkpoints stay, so the next
// start resumes them.
func (j *nodeJobs) Close() { j.m.Close() }
