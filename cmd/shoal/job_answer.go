package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// newJobAnswerCmd is `shoal job accept` or `shoal job decline`: the
// operator's answer to a job held under `shoal up --jobs ask`.
func newJobAnswerCmd(accept bool) *cobra.Command {
	var a apiFlags
	use, short, done := "decline", "Refuse a job that waits for this node's operator (shoal up --jobs ask)", "declined"
	if accept {
		use, short, done = "accept", "Start a job that waits for this node's operator (shoal up --jobs ask)", "accepted"
	}
	cmd := &cobra.Command{
		Use:   use + " ID",
		Short: short,
		Long: short + ".\nJobs waiting for an answer are listed with state \"pending\" by `shoal jobs`; unanswered, they expire.\n" +
			"The job's submitter hears of a decline (and of an expiry) as a refusal by this peer.",
		Example: "  shoal jobs\n  shoal job " + use + " 3f9c0a1b2c3d4e5f",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			answer := c.DeclineJob
			if accept {
				answer = c.AcceptJob
			}
			res, err := answer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.asJSON {
				return writeJSONLine(cmd.OutOrStdout(), res)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s job %s (now %s)\n", done, res.ID, res.State)
			return err
		},
	}
	a.register(cmd, "print the answer as JSON")
	return cmd
}

// newJobStatusCmd is `shoal job status ID`: one job as the node knows it,
// with the peers that refused it.
func newJobStatusCmd() *cobra.Command {
	var a apiFlags
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show one job as a running node knows it, with the peers that refused it and why",
		Long: "Shows one job: this node's state and progress, the other members' states, and for a job this node\n" +
			"submitted the peers that refused it (policy, declined, expired, busy, memory, edge) in their own words.\n" +
			"With --json it prints the job as one JSON object (the fields of `shoal jobs --json`).",
		Example: "  shoal job status 3f9c0a1b2c3d4e5f",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			j, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.asJSON {
				return writeJSONLine(cmd.OutOrStdout(), j)
			}
			return writeJobStatus(cmd.OutOrStdout(), j)
		},
	}
	a.register(cmd, "print the job as JSON")
	return cmd
}

func writeJobStatus(w io.Writer, j controlapi.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s (%s, model %s)\n", j.ID, orDash(j.Name), orDash(j.Model))
	fmt.Fprintf(tw, "state\t%s\n", j.State)
	if j.State == controlapi.JobPending && !j.Expires.IsZero() {
		fmt.Fprintf(tw, "expires\t%s (shoal job accept %s, or decline)\n", j.Expires.Local().Format(time.TimeOnly), j.ID)
	}
	if j.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", j.Error)
	}
	fmt.Fprintf(tw, "submitter\t%s\n", orDash(j.Submitter))
	fmt.Fprintf(tw, "progress\tepoch %d/%d, step %d/%d, loss %.4g, accuracy %.4f\n", j.Epoch, j.Epochs, j.Step, j.Steps, j.Loss, j.Accuracy)
	fmt.Fprintf(tw, "members\t%d\n", j.Members)
	if r := j.Result; r != nil {
		fmt.Fprintf(tw, "model\t%s version %d, sha256 %s\n", r.ModelName, r.ModelVersion, r.ModelHash)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The lists go after the table: peer ids are longer than its keys.
	for _, p := range j.Peers {
		fmt.Fprintf(w, "  member %s: %s\n", p.Peer, p.State)
	}
	if len(j.Refusals) > 0 {
		fmt.Fprintf(w, "refused by %d peer(s):\n", len(j.Refusals))
		for _, r := range j.Refusals {
			fmt.Fprintf(w, "  %s %s: %s\n", r.Peer, r.Reason, r.Detail)
		}
	}
	return nil
}

// refusalLines returns a line for each refusal of j not in seen, and notes
// it there: `shoal job submit --wait` prints each once.
func refusalLines(j controlapi.Job, seen map[string]bool) []string {
	var out []string
	for _, r := range j.Refusals {
		if key := r.Peer + " " + r.Reason; !seen[key] {
			seen[key] = true
			out = append(out, fmt.Sprintf("%s refused by %s (%s): %s", shortJobID(j.ID), r.Peer, r.Reason, r.Detail))
		}
	}
	return out
}
