package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/train"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

func init() { subcommands = append(subcommands, newJobCmd, newJobsCmd) }

// maxModelSpecFile bounds a --model spec file; the node takes at most
// 256 KiB of inline spec.
const maxModelSpecFile = 256 << 10

func newJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "job",
		Short:   "Submit and list training jobs on the mesh",
		Example: "  shoal job submit --model mlp --data \"$(make -s mnist)\" --epochs 3 --min-peers 2\n  shoal job list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newJobSubmitCmd(), newJobListCmd("list"), newJobStatusCmd(), newJobAnswerCmd(true), newJobAnswerCmd(false))
	return cmd
}

// newJobsCmd is `shoal jobs`, the short form of `shoal job list`.
func newJobsCmd() *cobra.Command { return newJobListCmd("jobs") }

func newJobListCmd(use string) *cobra.Command {
	var a apiFlags
	cmd := &cobra.Command{
		Use:   use,
		Short: "List the training jobs a running node knows",
		Long: "Lists the jobs a running node (`shoal up`) knows, newest first, with this node's progress in each.\n" +
			"The API token is read from the node's data dir: use the same --data-dir (or SHOAL_DATA_DIR) as the node.\n" +
			"With --json it prints a JSON array whose fields are only ever added to.",
		Example: "  shoal " + listCmdPath(use) + "\n  shoal " + listCmdPath(use) + " --json --data-dir /var/lib/shoal",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			jobs, err := c.Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if a.asJSON {
				return writeJSONLine(cmd.OutOrStdout(), jobs)
			}
			if len(jobs) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no jobs yet (submit one with `shoal job submit`)")
			}
			return writeJobsTable(cmd.OutOrStdout(), jobs)
		},
	}
	a.register(cmd, "print a JSON array instead of a table")
	return cmd
}

// jobSubmitFlags are `shoal job submit`'s flags.
type jobSubmitFlags struct {
	apiFlags
	spec  controlapi.JobSpec
	model string
	wait  bool
}

func newJobSubmitCmd() *cobra.Command {
	var o jobSubmitFlags
	cmd := &cobra.Command{
		Use:   "submit --model PRESET|SPEC_FILE --data PATH",
		Short: "Submit a training job to the mesh through a running node",
		Long: "Submits a training job to a running node (`shoal up`), which answers at once with the job id, then cuts the\n" +
			"data into shards, announces the job and trains it together with the peers that join. --model is a preset (" + strings.Join(nn.PresetNames(), ", ") + ")\n" +
			"or a model spec file (JSON). --data is read by the node, so it must be reachable from the node's machine.\n" +
			"It prints the job id (with --json, the filled-in spec). With --wait it follows the job until it ends on\n" +
			"this node, showing progress on stderr, and prints the result (with --json, the final job as one JSON line);\n" +
			"a job that fails makes it exit non-zero.",
		Example: "  shoal job submit --model mlp --data \"$(make -s mnist)\" --epochs 3 --min-peers 2 --wait\n" +
			"  shoal job submit --model my-cnn.json --data /data/mnist --robust clip --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := o.build(cmd)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return submitJob(cmd.Context(), c, spec, o.wait, o.asJSON, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	s := &o.spec
	f.StringVar(&o.model, "model", "", "model preset ("+strings.Join(nn.PresetNames(), ", ")+") or a model spec file (JSON)")
	f.StringVar(&s.Data, "data", "", "training data: an MNIST-style folder or a labelled text file (TSV, CSV, JSONL)")
	f.Float64Var(&s.Holdout, "holdout", train.DefaultHoldout, "fraction of a text file's last rows held out as the test set (0: none)")
	f.IntVar(&s.Epochs, "epochs", 1, "epochs over the whole data set, spread over the peers")
	f.IntVar(&s.Batch, "batch", 0, "batch size (default 64 for images, 32 for text)")
	f.Float64Var(&s.LR, "lr", 0, "learning rate (default grows with --min-peers, as in shoal testnet: each model takes fewer steps)")
	f.StringVar(&s.Optimizer, "optimizer", "", "sgd, adam or adamw (default adam)")
	f.IntVar(&s.LocalSteps, "local-steps", 0, "local steps H between two averaging rounds (default 10)")
	f.StringVar(&s.Compress, "compress", "none", "what averaging sends: none, fp16 or int8")
	f.StringVar(&s.Robust, "robust", "none", "none, or clip (ClippedGossip against faulty peers)")
	f.IntVar(&s.Replication, "replication", 0, "owners of each data shard (default 2)")
	f.IntVar(&s.MinPeers, "min-peers", 1, "peers (this one included) that must join before training starts")
	f.Float64Var(&s.TargetAccuracy, "target-accuracy", 0, "stop once the hold-out accuracy reaches this (0: run all epochs)")
	f.Uint64Var(&s.Seed, "seed", 1, "seed of the model and the data order")
	f.IntVar(&s.ShardRows, "shard-rows", 0, "rows per data shard (default 1000)")
	f.BoolVar(&s.Edge, "edge", false, "let edge peers join the job too")
	f.BoolVar(&s.Private, "private", false, "each peer trains on its own data, never shared: --data is then a NAME each peer maps to its own file with shoal up --private-data NAME=PATH")
	f.StringVar(&s.Name, "name", "", "name of the trained model in every peer's store (default: the preset)")
	f.BoolVar(&o.wait, "wait", false, "follow the job until it ends on this node and print the result")
	o.register(cmd, "print JSON on stdout (the spec, or with --wait the final job)")
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("data")
	return cmd
}

// build turns the flags into a spec: the data path made absolute (the node
// has its own working directory), a spec file inlined.
func (o *jobSubmitFlags) build(cmd *cobra.Command) (controlapi.JobSpec, error) {
	s := o.spec
	abs, err := filepath.Abs(s.Data)
	if err != nil {
		return s, fmt.Errorf("--data: %w", err)
	}
	s.Data = abs
	if slices.Contains(nn.PresetNames(), strings.ToLower(o.model)) {
		s.Model = strings.ToLower(o.model)
	} else {
		if s.ModelSpec, err = readModelSpecFile(o.model); err != nil {
			return s, err
		}
	}
	if !cmd.Flags().Changed("lr") {
		s.LR = defaultMeshLR(max(s.MinPeers, 1))
	}
	return s, nil
}

// readModelSpecFile reads a JSON model spec for --model (compacted: it
// travels inside the job announcement). The node checks what it means.
func readModelSpecFile(path string) (json.RawMessage, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("--model %q is neither a preset (%s) nor a spec file", path, strings.Join(nn.PresetNames(), ", "))
		}
		return nil, fmt.Errorf("--model: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxModelSpecFile+1))
	if err != nil {
		return nil, fmt.Errorf("--model %s: %w", path, err)
	}
	if len(b) > maxModelSpecFile {
		return nil, fmt.Errorf("--model %s: spec file over %d KiB", path, maxModelSpecFile>>10)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("--model %s: not a JSON model spec: %v", path, err)
	}
	if buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil, fmt.Errorf("--model %s: a model spec is a JSON object", path)
	}
	return buf.Bytes(), nil
}

func submitJob(ctx context.Context, c *controlapi.Client, spec controlapi.JobSpec, wait, asJSON bool, stdout, stderr io.Writer) error {
	filled, err := c.SubmitJob(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "submitted job %s (model %q, %d epochs, waiting for %d peers)\n", filled.ID, filled.Name, filled.Epochs, filled.MinPeers)
	if !wait {
		if asJSON {
			return writeJSONLine(stdout, filled)
		}
		_, err := fmt.Fprintln(stdout, filled.ID)
		return err
	}
	var last string
	refusals := map[string]bool{}
	final, err := c.WaitJob(ctx, filled.ID, func(j controlapi.Job) {
		if line := progressLine(j); line != last {
			fmt.Fprintln(stderr, line)
			last = line
		}
		for _, line := range refusalLines(j, refusals) {
			fmt.Fprintln(stderr, line)
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting; job %s goes on (see `shoal jobs`)", filled.ID)
		}
		if asJSON && final.State == controlapi.JobFailed {
			_ = writeJSONLine(stdout, final) // scripts see how it ended too
		}
		return err
	}
	if asJSON {
		return writeJSONLine(stdout, final)
	}
	return writeJobResult(stdout, final)
}

func progressLine(j controlapi.Job) string {
	return fmt.Sprintf("%s %s: epoch %d/%d, step %d/%d, loss %.4g, accuracy %.4f, distance %.3g, %d peers",
		shortJobID(j.ID), j.State, j.Epoch, j.Epochs, j.Step, j.Steps, j.Loss, j.Accuracy, j.ConsensusDistance, j.Members)
}

func writeJobResult(w io.Writer, j controlapi.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\n", j.ID)
	fmt.Fprintf(tw, "state\t%s\n", j.State)
	if r := j.Result; r != nil {
		fmt.Fprintf(tw, "model\t%s version %d\n", r.ModelName, r.ModelVersion)
		fmt.Fprintf(tw, "sha256\t%s\n", r.ModelHash)
		fmt.Fprintf(tw, "file\t%s (%s)\n", r.ModelPath, fmtBytes(uint64(max(r.ModelBytes, 0))))
		fmt.Fprintf(tw, "accuracy\t%.4f (hold-out probe)\n", r.ProbeAccuracy)
		fmt.Fprintf(tw, "consensus\t%.3g after %d rounds\n", r.ConsensusDistance, r.ConsensusRounds)
		fmt.Fprintf(tw, "averaging\t%d rounds, %s sent, %s received\n", r.Rounds,
			fmtBytes(uint64(max(r.BytesSent, 0))), fmtBytes(uint64(max(r.BytesRecv, 0))))
	}
	fmt.Fprintf(tw, "peers\t%d\n", j.Members)
	return tw.Flush()
}

func writeJobsTable(w io.Writer, jobs []controlapi.Job) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tMODEL\tSTATE\tEPOCH\tSTEP\tLOSS\tACC\tDIST\tPEERS\tSENT\tRECV\tRESULT")
	for _, j := range jobs {
		result := "-"
		if j.ModelHash != "" {
			result = fmt.Sprintf("v%d %s", j.ModelVersion, j.ModelHash[:min(12, len(j.ModelHash))])
		} else if j.Error != "" {
			result = j.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t%.4g\t%.4f\t%.3g\t%d\t%s\t%s\t%s\n",
			j.ID, orDash(j.Name), orDash(j.Model), orDash(j.State), j.Epoch, j.Epochs, j.Step, j.Steps,
			j.Loss, j.Accuracy, j.ConsensusDistance, j.Members,
			fmtBytes(uint64(max(j.BytesSent, 0))), fmtBytes(uint64(max(j.BytesRecv, 0))), result)
	}
	return tw.Flush()
}

func shortJobID(id string) string { return id[:min(8, len(id))] }

// listCmdPath is how a user types the list command named use.
func listCmdPath(use string) string {
	if use == "list" {
		return "job list"
	}
	return use
}
