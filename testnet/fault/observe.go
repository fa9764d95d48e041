package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// Sees reports whether peer i lists every peer of ids as alive.
func (c *Cluster) Sees(ctx context.Context, i int, ids []string) bool {
	cl, err := c.Peer(i).Client()
	if err != nil {
		return false
	}
	ps, err := cl.Peers(ctx)
	if err != nil {
		return false
	}
	alive := map[string]bool{}
	for _, p := range ps {
		if p.Alive {
			alive[p.ID] = true
		}
	}
	for _, id := range ids {
		if id != c.Peer(i).ID && !alive[id] {
			return false
		}
	}
	return true
}

// WaitConverged waits until every peer of group (every running peer with
// the cluster's key when group is empty) lists all the others as alive, and
// returns how long that took.
func (c *Cluster) WaitConverged(ctx context.Context, group ...int) (time.Duration, error) {
	start := time.Now()
	if len(group) == 0 {
		for _, p := range c.Peers() {
			if p.Running() && p.Key == c.opts.Key {
				group = append(group, p.Index)
			}
		}
	}
	ids := make([]string, len(group))
	for k, i := range group {
		ids[k] = c.Peer(i).ID
	}
	err := Poll(ctx, 200*time.Millisecond, func() bool {
		for _, i := range group {
			if !c.Sees(ctx, i, ids) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("fault: peers %v never all saw each other: %w", group, err)
	}
	return time.Since(start), nil
}

// Poll calls f every interval until it returns true or ctx ends.
func Poll(ctx context.Context, interval time.Duration, f func() bool) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if f() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// CLI runs the shoal binary against peer i (its --api and --data-dir
// appended) and returns stdout; the error carries stderr.
func (c *Cluster) CLI(ctx context.Context, i int, args ...string) ([]byte, error) {
	p := c.Peer(i)
	cmd := exec.CommandContext(ctx, c.opts.Bin, append(args, "--api", p.API, "--data-dir", p.DataDir)...)
	var stderr lockedWriter
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("fault: shoal %v on %s: %v\n%s%s", args, p.Name, err, stderr.String(), out)
	}
	return out, nil
}

// Jobs is peer i's `shoal jobs --json`.
func (c *Cluster) Jobs(ctx context.Context, i int) ([]controlapi.Job, error) {
	out, err := c.CLI(ctx, i, "jobs", "--json")
	if err != nil {
		return nil, err
	}
	var jobs []controlapi.Job
	if err := json.Unmarshal(out, &jobs); err != nil {
		return nil, fmt.Errorf("fault: shoal jobs --json: %w\n%s", err, out)
	}
	return jobs, nil
}

// Job is job id as peer i's control API reports it (cheaper than Jobs for
// polling: no process).
func (c *Cluster) Job(ctx context.Context, i int, id string) (controlapi.Job, bool) {
	cl, err := c.Peer(i).Client()
	if err != nil {
		return controlapi.Job{}, false
	}
	jobs, err := cl.Jobs(ctx)
	if err != nil {
		return controlapi.Job{}, false
	}
	for _, j := range jobs {
		if j.ID == id {
			return j, true
		}
	}
	return controlapi.Job{}, false
}
