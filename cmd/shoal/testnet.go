package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/testnet"
)

func init() { subcommands = append(subcommands, newTestnetCmd) }

// testnetOptions holds every flag of `shoal testnet`; testnetFlags is the
// one place they are registered, so job flags (testnet_job.go) sit beside
// the mesh ones.
type testnetOptions struct {
	peers    int
	asJSON   bool
	keyOut   string
	dataDir  string
	logLevel string
	pprof    string
	idle     string
	job      testnetJobFlags
}

func testnetFlags(cmd *cobra.Command, o *testnetOptions) {
	f := cmd.Flags()
	f.IntVar(&o.peers, "peers", 5, "number of in-process peers")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object (the peers, or the job report) on stdout")
	f.StringVar(&o.keyOut, "key-out", "", "also write the testnet's mesh key here, so shoal up --key FILE --bootstrap ADDR can join it")
	f.StringVar(&o.dataDir, "data-dir", "", "keep the peers' data dirs here (default: a temporary dir, removed at exit)")
	addLogLevelFlag(f, &o.logLevel)
	f.StringVar(&o.pprof, "pprof", "", "serve Go's profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060, to see where a large testnet spends its time")
	f.StringVar(&o.idle, "idle-window", "auto", "after the join, measure idle CPU and memory per peer over this long before going on (auto: two heartbeat intervals, at least 5 s; 0: don't)")
	o.job.register(f)
}

// idleWindow parses --idle-window: a duration, 0 for none, or "auto"
// (testnet.AutoIdleWindow), which it returns as -1.
func (o *testnetOptions) idleWindow() (time.Duration, error) {
	if o.idle == "auto" {
		return -1, nil
	}
	d, err := time.ParseDuration(o.idle)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--idle-window %q: want auto, 0 or a duration such as 10s", o.idle)
	}
	return d, nil
}

// testnetPeer is one peer in `shoal testnet --json`; fields may be added.
type testnetPeer struct {
	Name  string   `json:"name"`
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	// API is the peer's control API (host:port) and DataDir the folder
	// holding its token: `shoal peers --api API --data-dir DATADIR`.
	API     string `json:"api"`
	DataDir string `json:"data_dir"`
}

// testnetOutput is the --json form of `shoal testnet` without a job.
type testnetOutput struct {
	MeshID    string        `json:"mesh_id"`
	Peers     []testnetPeer `json:"peers"`
	Converged bool          `json:"converged"`
	// JoinMS is the time from the start of the first peer until every
	// peer listed all the others; StartMS how long starting them took.
	JoinMS  int64 `json:"join_ms"`
	StartMS int64 `json:"start_ms"`
	// JoinCPUSeconds is the process's CPU time over the same span, which
	// a loaded machine does not inflate as it does JoinMS.
	JoinCPUSeconds float64 `json:"join_cpu_seconds"`
	// Idle is the footprint over a quiet window after the join
	// (--idle-window), absent when not measured.
	Idle *testnet.Footprint `json:"idle,omitempty"`
	// HeartbeatEveryMS is the first peer's heartbeat refresh interval
	// after the join; it grows with the mesh.
	HeartbeatEveryMS int64 `json:"heartbeat_every_ms"`
}

func newTestnetCmd() *cobra.Command {
	var o testnetOptions
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Run N peers in this process on 127.0.0.1, sharing one key",
		Long: "Starts --peers real mesh nodes on 127.0.0.1 (no mDNS), bootstrapped through the first one,\n" +
			"waits until every peer lists all the others, prints the peers, their addresses and control APIs\n" +
			"(each peer is a whole node with its own data dir: shoal peers --api ADDR --data-dir DIR), and runs\n" +
			"until Ctrl-C. With --model and --data it runs one training job instead (see the job flags).",
		Example: "  shoal testnet --peers 4\n  shoal testnet --peers 8 --model mlp --data \"$(make -s mnist)\" --epochs 3 --json",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return runTestnet(cmd, &o) },
	}
	testnetFlags(cmd, &o)
	return cmd
}

func runTestnet(cmd *cobra.Command, o *testnetOptions) error {
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	if o.peers < 1 || o.peers > 200 {
		return fmt.Errorf("--peers %d: want 1 to 200", o.peers)
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go exitAfterGrace(ctx, done, stderr)
	if o.pprof != "" {
		stop, err := servePprof(o.pprof, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	idle, err := o.idleWindow()
	if err != nil {
		return err
	}
	if o.job.wanted() {
		return runTestnetJob(ctx, o.peers, &o.job, idle, o.asJSON, log, stdout, stderr)
	}
	var opts []testnet.Option
	if o.dataDir != "" {
		opts = append(opts, testnet.WithDir(o.dataDir))
	}
	if o.logLevel == "debug" {
		opts = append(opts, testnet.WithLogger(log))
	}
	start, cpu0 := time.Now(), testnet.ProcessCPU()
	net, err := testnet.Start(ctx, o.peers, opts...)
	if err != nil {
		return err
	}
	defer net.Close()
	started := time.Since(start)
	if o.keyOut != "" {
		if err := net.KeyFile(o.keyOut); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "mesh key written to %s\n", o.keyOut)
	}
	wctx, cancel := context.WithTimeout(ctx, testnet.JoinTimeout(o.peers))
	err = net.WaitFor(wctx, (*testnet.Net).Converged)
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	join, joinCPU := time.Since(start), testnet.ProcessCPU()-cpu0
	if err != nil {
		fmt.Fprintf(stderr, "warning: after %v not every peer lists all the others:\n%s", join.Round(time.Millisecond), net.Describe())
	} else {
		fmt.Fprintf(stderr, "%d peers, every one lists all the others after %v (%v to start them; %.1f CPU seconds in all)\n",
			o.peers, join.Round(time.Millisecond), started.Round(time.Millisecond), joinCPU.Seconds())
	}
	out := testnetOutput{Converged: err == nil, JoinMS: join.Milliseconds(), StartMS: started.Milliseconds(),
		JoinCPUSeconds: joinCPU.Seconds()}
	if idle != 0 && err == nil {
		if idle < 0 {
			idle = net.AutoIdleWindow()
		}
		fp, err := net.MeasureIdle(ctx, idle)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stderr, fp.String())
		out.Idle = &fp
	}
	if n := net.Node(0); n != nil {
		out.HeartbeatEveryMS = n.HeartbeatEvery().Milliseconds()
	}
	for i := range net.Len() {
		n := net.Node(i)
		if n == nil {
			continue
		}
		out.MeshID = n.MeshID()
		out.Peers = append(out.Peers, testnetPeer{Name: n.Self().Name, ID: n.ID().String(), Addrs: n.Addrs(),
			API: net.APIAddr(i), DataDir: net.DataDir(i)})
	}
	if err := writeTestnet(stdout, out, o.asJSON); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "running until Ctrl-C")
	<-ctx.Done()
	return nil
}

// testnetShutdownGrace is how long `shoal testnet` may take to stop once
// it is signalled. Closing a hundred in-process nodes normally takes a
// second or two, but a node stuck in a busy libp2p call (a GossipSub
// ListPeers behind a full validation queue was seen) would hold the
// process for minutes: past the grace it exits anyway, as a signalled
// process must.
const testnetShutdownGrace = 10 * time.Second

// exitAfterGrace exits the process testnetShutdownGrace after ctx ends,
// unless done is closed first (the command returned).
func exitAfterGrace(ctx context.Context, done <-chan struct{}, stderr io.Writer) {
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(testnetShutdownGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		fmt.Fprintf(stderr, "shoal: testnet still stopping %v after the signal; exiting now\n", testnetShutdownGrace)
		os.Exit(1)
	}
}

func writeTestnet(w io.Writer, out testnetOutput, asJSON bool) error {
	if asJSON {
		return writeJSONLine(w, out)
	}
	fmt.Fprintf(w, "mesh %s\n", out.MeshID)
	for _, p := range out.Peers {
		addr := "-"
		if len(p.Addrs) > 0 {
			addr = p.Addrs[0]
		}
		if _, err := fmt.Fprintf(w, "%-8s %s  api %s  data-dir %s\n", p.Name, addr, p.API, p.DataDir); err != nil {
			return err
		}
	}
	return nil
}
