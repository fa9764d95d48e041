package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/testnet"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

// Defaults of `shoal demo`, chosen so the whole run (4 peers on 2 cores,
// MNIST already in the module cache) takes well under a minute: 5 epochs of
// the mlp train in about 10 s and reach about 97% test accuracy; 3 epochs of
// lstm-text on the SMS spam collection take a few seconds (about 98%).
const (
	demoPeers       = 4
	demoMNISTEpochs = 5
	demoTextEpochs  = 3
	demoHoldout     = 0.2 // text only: the last 20% of rows, as torch_ref.py
	demoSeed        = 1
	// demoJoinTimeout bounds the wait for every peer to list every other.
	demoJoinTimeout = 30 * time.Second
)

// demoFlags are `shoal demo`'s flags.
type demoFlags struct {
	peers    int
	model    string
	data     string
	epochs   int
	lr       float64
	keep     bool
	headless bool
	json     bool
	text     bool
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Train a model on 4 real peers on this machine, serve it and query it",
		Long: `demo starts --peers real nodes on 127.0.0.1, each a whole node as shoal up runs it (its own data dir
in a temporary folder, control API and model server on free loopback ports, mDNS off), with a fresh mesh key.
It submits one decentralized training job to the first node (the mlp on MNIST, which comes through the Go
module cache and, on a first run, the module proxy; --text trains lstm-text on the SMS spam collection),
waits until every peer holds the same model, and serves it on every node. The first node then gives up its
own copy, so the query it is sent (a test image or a held-out message) crosses the mesh to a peer that holds
the model; the summary names that peer.

On a terminal, demo opens the operator console on the first node while the job runs; quit it with q (or
ctrl+c) to stop every node and print the summary. With --headless (or without a terminal) it shows a progress
bar (plain lines when stderr is not a terminal) and a summary: accuracy per peer, whether the model hashes
agree, bytes sent, the query's answer and the peer that served it; --json prints that summary as one JSON
line on stdout. The temporary folder is removed at the end unless --keep.`,
		Example: "  shoal demo\n  shoal demo --headless\n  shoal demo --headless --json --epochs 2\n" +
			"  shoal demo --text --headless\n  shoal demo --data \"$(make -s mnist)\" --peers 6 --keep",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), &f, cmd.Flags().Changed("model"), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.peers, "peers", demoPeers, "number of nodes (every one trains)")
	fl.StringVar(&f.model, "model", "mlp", "model preset (mlp, cnn, logreg; lstm-text or seed-text with --text)")
	fl.StringVar(&f.data, "data", "", "MNIST folder, or with --text a label<TAB>text file (default: MNIST from the Go module cache; with --text ../shared/data/sms_spam.tsv)")
	fl.IntVar(&f.epochs, "epochs", 0, fmt.Sprintf("epochs of the whole data set, spread over the peers (default %d, or %d with --text)", demoMNISTEpochs, demoTextEpochs))
	fl.Float64Var(&f.lr, "lr", 0, "learning rate (default grows with the peers, as in shoal testnet)")
	fl.BoolVar(&f.keep, "keep", false, "keep the nodes' temporary data dirs (and the demo's log) at the end")
	fl.BoolVar(&f.headless, "headless", false, "no console: a progress bar and a summary")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON line on stdout (implies --headless)")
	fl.BoolVar(&f.text, "text", false, "train lstm-text on SMS spam (--data, else ../shared/data/sms_spam.tsv or $SHOAL_SMS)")
	return cmd
}

// demoRun is one demo in progress: its mesh, its job and where it logs.
type demoRun struct {
	flags   demoFlags
	dir     string // the temporary folder holding every node's data dir
	logPath string
	log     *slog.Logger
	net     *testnet.Net
	spec    controlapi.JobSpec
	ui      *demoProgress
	start   time.Time
}

func runDemo(ctx context.Context, f *demoFlags, modelSet bool, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	if f.peers < 1 || f.peers > 64 {
		return fmt.Errorf("--peers %d: want 1 to 64", f.peers)
	}
	if f.epochs < 0 {
		return fmt.Errorf("--epochs %d: want at least 1", f.epochs)
	}
	if f.text && !modelSet {
		f.model = "lstm-text"
	}
	if f.epochs == 0 {
		f.epochs = demoMNISTEpochs
		if f.text {
			f.epochs = demoTextEpochs
		}
	}
	if f.json {
		f.headless = true
	}
	interactive := !f.headless && isTerminal(stdin) && isTerminal(stdout)
	if !f.headless && !interactive {
		fmt.Fprintln(stderr, "not a terminal: running headless (the console needs one)")
	}
	ui := newDemoProgress(stderr)

	dataPath, err := demoData(ctx, f, ui)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "shoal-demo-")
	if err != nil {
		return err
	}
	removeDir := !f.keep
	defer func() {
		if removeDir {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = rerr
			}
		} else {
			fmt.Fprintf(stderr, "kept the nodes' data dirs in %s\n", dir)
		}
	}()
	logPath := filepath.Join(dir, "demo.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	d := &demoRun{
		flags: *f, dir: dir, logPath: logPath, ui: ui, start: time.Now(),
		// The nodes log to a file: the console owns the screen, and the
		// progress bar's line would be broken by log lines.
		log: slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	defer func() {
		if err != nil && ctx.Err() == nil {
			// The nodes' own account of what went wrong goes with the
			// error, since the folder holding it is about to go.
			fmt.Fprint(stderr, tailLines(logPath, 15))
		}
	}()

	defer func() {
		if d.net == nil {
			return // none started, or testnet.Start stopped those it had
		}
		ui.line("stopping the nodes")
		if cerr := d.net.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := d.startMesh(ctx); err != nil {
		return demoStopped(ctx, stderr, err)
	}
	if err := d.submit(ctx, dataPath); err != nil {
		return demoStopped(ctx, stderr, err)
	}

	var sum *demoSummary
	if interactive {
		sum, err = d.runConsole(ctx)
	} else {
		sum, err = d.finish(ctx, true)
	}
	if err != nil {
		return demoStopped(ctx, stderr, err)
	}
	if sum == nil {
		return nil // the console was quit before the job ended
	}
	sum.Dir, sum.Kept, sum.Seconds = dir, f.keep, round(time.Since(d.start).Seconds(), 2)
	writeDemoSummary(stderr, sum)
	if f.json {
		return writeJSONLine(stdout, sum)
	}
	return nil
}

// demoStopped turns an interruption (Ctrl-C) into a clean stop rather than
// an error.
func demoStopped(ctx context.Context, stderr io.Writer, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		fmt.Fprintln(stderr, "interrupted")
		return nil
	}
	return err
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startMesh starts the nodes and waits until every one lists all others.
func (d *demoRun) startMesh(ctx context.Context) error {
	d.ui.line(fmt.Sprintf("starting %d nodes on 127.0.0.1 (fresh key, data dirs in %s)", d.flags.peers, d.dir))
	net, err := testnet.Start(ctx, d.flags.peers, testnet.WithDir(d.dir), testnet.WithLogger(d.log))
	if err != nil {
		return err
	}
	d.net = net
	wctx, cancel := context.WithTimeout(ctx, demoJoinTimeout)
	defer cancel()
	if err := net.WaitFor(wctx, (*testnet.Net).Converged); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("the nodes did not find each other in %v:\n%s", demoJoinTimeout, net.Describe())
	}
	d.ui.line(fmt.Sprintf("%d nodes up, every one lists all the others after %v (mesh %s)",
		d.flags.peers, time.Since(d.start).Round(time.Millisecond), net.Node(0).MeshID()))
	return nil
}

// submit sends the job to node 0 through its control API, as the console
// or `shoal job submit` would.
func (d *demoRun) submit(ctx context.Context, dataPath string) error {
	spec := controlapi.JobSpec{
		Name: demoModelName(d.flags.text, dataPath), Model: d.flags.model, Data: dataPath, Epochs: d.flags.epochs,
		LR: d.flags.lr, MinPeers: d.flags.peers, Seed: demoSeed, ShardRows: demoShardRows(dataPath, d.flags.peers),
	}
	if spec.LR == 0 {
		spec.LR = defaultMeshLR(d.flags.peers)
	}
	if d.flags.text {
		spec.Holdout = demoHoldout
	}
	out, err := d.net.Client(0).SubmitJob(ctx, spec)
	if err != nil {
		return fmt.Errorf("submitting the job: %w", err)
	}
	d.spec = out
	what := "MNIST"
	if d.flags.text {
		what = filepath.Base(dataPath)
	}
	d.ui.line(fmt.Sprintf("job %s submitted to node-0: %s on %s, %s over %d peers, served as %q", out.ID, out.Model,
		what, plural(out.Epochs, "epoch"), d.flags.peers, out.Name))
	return nil
}

// demoModelName is the name the job publishes (and every node serves) its
// model under: mnist for images; for a text file the start of its name,
// up to the first '_' or '.' (sms_spam.tsv gives sms), else text.
func demoModelName(text bool, path string) string {
	if !text {
		return "mnist"
	}
	stem := strings.ToLower(filepath.Base(path))
	if i := strings.IndexAny(stem, "_."); i >= 0 {
		stem = stem[:i]
	}
	if modelstore.ValidName(stem) != nil {
		return "text"
	}
	return stem
}

// demoShardRows cuts the data so that every peer owns several shards: about
// four per peer, between 10 and the job default of 1000 rows each.
func demoShardRows(path string, peers int) int {
	rows := 60000 // an MNIST folder
	if st, err := os.Stat(path); err == nil && !st.IsDir() && st.Size() < 64<<20 {
		if b, err := os.ReadFile(path); err == nil {
			rows = bytes.Count(b, []byte{'\n'})
		}
	}
	return min(max(rows/(4*peers), 10), 1000)
}

// plural writes n and the noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
