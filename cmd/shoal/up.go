package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/node"
	"github.com/shoalmesh/shoal/serve/registry"
	"github.com/shoalmesh/shoal/tui"
)

func init() { subcommands = append(subcommands, newUpCmd) }

type upOptions struct {
	keyPath  string
	listen   []string
	announce []string
	// privateData maps the names of private-data jobs to this machine's
	// files (NAME=PATH): the only data such a job may read here.
	privateData []string
	joinPolicy  string
	maxJobs     int
	keepJobs    int
	memBudget   string
	bootstrap   []string
	name        string
	role        string
	api         string
	headless    bool
	images      string
	noMDNS      bool
	noDHT       bool
	dataDir     string
	logLevel    string
	http        httpServeFlags
	serve       []string // models to pull from peers and serve (--serve)
	pprof       string
}

func newUpCmd() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a node of the mesh until Ctrl-C",
		Long: "Joins the mesh whose key is --key (default <data-dir>/swarm.key, created when absent),\n" +
			"listens on --listen (default: loopback only, tcp 4001 and ws 4002), dials --bootstrap peers,\n" +
			"finds peers on the LAN with mDNS and through a private DHT, and serves the local control API\n" +
			"on --api. On a terminal it opens the operator console (as `shoal tui`) and logs to node.log in\n" +
			"the data dir; quitting the console stops the node. With --headless, or without a terminal, logs\n" +
			"go to stderr. Ctrl-C or SIGTERM shuts it down cleanly.\n\n" +
			"With --role edge (a small device) the node trains only for jobs that ask for edge peers, and\n" +
			"`shoal models pull NAME` fetches the int8 form of NAME from a peer that serves one, else the float\n" +
			"form, quantized here; the node serves it over HTTP and the mesh. --mem-budget then also bounds the\n" +
			"loaded models: one that would not fit is refused, naming its size, the budget and what is used.",
		Example: "  shoal up --headless\n" +
			"  shoal up --role edge --mem-budget 256MiB --serve digits --bootstrap /ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…\n" +
			"  shoal up --key swarm.key --listen /ip4/0.0.0.0/tcp/4001 --bootstrap /ip4/192.168.1.20/tcp/4001/p2p/12D3KooW…",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.keyPath, "key", "", "mesh key file (default <data-dir>/swarm.key, created if absent)")
	f.StringArrayVar(&o.listen, "listen", nil, "listen multiaddr, TCP or WebSocket (repeatable; default "+strings.Join(defaultUpListen, " and ")+")")
	f.StringArrayVar(&o.announce, "announce", nil, "address to tell peers instead of the listen addresses, for a port forward or proxy in front of this node (repeatable)")
	f.StringVar(&o.joinPolicy, "jobs", job.JoinAuto, "auto: join the jobs other peers announce when they fit; ask: hold them until accepted (console, shoal job accept); off: run only jobs submitted here")
	f.IntVar(&o.maxJobs, "max-jobs", job.DefaultMaxJobs, "jobs that may run here at once")
	f.IntVar(&o.keepJobs, "keep-jobs", job.DefaultKeepFinished, "ended jobs this node keeps listing; older ones are forgotten (their files stay)")
	f.StringVar(&o.memBudget, "mem-budget", "", "memory a job may need here, e.g. 4GiB (default: half of this machine's; a job estimated above it is refused); on an edge node also the memory of the loaded models")
	f.StringArrayVar(&o.privateData, "private-data", nil, "NAME=PATH: train private-data jobs whose data is NAME on this file or folder, and no other (repeatable)")
	f.StringArrayVar(&o.bootstrap, "bootstrap", nil, "peer to dial at start, /ip4/…/tcp/…/p2p/<id> (repeatable)")
	f.StringVar(&o.name, "name", "", "name shown to other peers (default: host name)")
	f.StringVar(&o.role, "role", mesh.RoleFull, "full (trains and serves) or edge (small device: serves, trains only when asked)")
	f.StringVar(&o.api, "api", controlapi.DefaultAddr, "control API address (loopback only)")
	f.BoolVar(&o.headless, "headless", false, "log to stderr instead of opening the console (the console opens only on a terminal)")
	f.StringVar(&o.images, "images", "", "MNIST test images for the console's Query screen (see shoal tui --images)")
	f.BoolVar(&o.noMDNS, "no-mdns", false, "do not look for peers on the LAN with mDNS")
	f.BoolVar(&o.noDHT, "no-dht", false, "do not run the private DHT")
	f.StringVar(&o.pprof, "pprof", "", "serve Go's profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060")
	f.StringArrayVar(&o.serve, "serve", nil, "NAME[@VERSION|@LABEL]: pull this model from a peer once one holds it, unless the store has it, and serve it (on an edge node the int8 form; repeatable)")
	addDataDirFlag(f, &o.dataDir)
	addLogLevelFlag(f, &o.logLevel)
	o.http.register(f)
	return cmd
}

func runUp(cmd *cobra.Command, o upOptions) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	console := !o.headless && term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stdin.Fd()))
	var logTo io.Writer = stderr
	var consoleLog *slog.Logger
	if console {
		// The console owns the terminal: the node logs to a file (and the
		// console's Log screen shows the same lines through the API).
		dir, err := resolveDataDir(o.dataDir, true)
		if err != nil {
			return err
		}
		lf, err := os.OpenFile(filepath.Join(dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("node log: %w", err)
		}
		defer lf.Close()
		logTo, stderr = lf, lf
		consoleLog = slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo})).With("part", "console")
	}
	log, err := newLogger(logTo, o.logLevel)
	if err != nil {
		return err
	}
	if o.role != mesh.RoleFull && o.role != mesh.RoleEdge {
		return fmt.Errorf("--role %q: want full or edge", o.role)
	}
	if o.pprof != "" {
		stop, err := servePprof(o.pprof, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Refuse a non-loopback --api or --http before joining the mesh, not after.
	if err := serve.CheckLoopback(o.api, false); err != nil {
		return err
	}
	if err := o.http.check(); err != nil {
		return err
	}
	dataDir, err := resolveDataDir(o.dataDir, true)
	if err != nil {
		return err
	}
	keyPath := o.keyPath
	created := false
	if keyPath == "" {
		keyPath = filepath.Join(dataDir, mesh.KeyFileName)
		if _, created, err = mesh.LoadOrCreateKey(keyPath); err != nil {
			return err
		}
	} else if _, err := mesh.ReadKey(keyPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mesh key %s does not exist: copy the mesh's key file here, or create a new mesh with `shoal key new -o %s`", keyPath, keyPath)
		}
		return err
	}
	listen := o.listen
	if len(listen) == 0 {
		listen = defaultUpListen
	}
	private, err := job.ParsePrivateData(o.privateData)
	if err != nil {
		return err
	}
	var budget int64
	if o.memBudget != "" {
		b, err := humanize.ParseBytes(o.memBudget)
		if err != nil || b == 0 || b > 1<<62 {
			return fmt.Errorf("--mem-budget %q: want a size such as 512MiB or 4GB", o.memBudget)
		}
		budget = int64(b)
	}
	for _, s := range o.serve {
		if err := node.CheckPullRef(s); err != nil {
			return fmt.Errorf("--serve %s: %w", s, err)
		}
	}
	if o.maxJobs < 1 {
		return fmt.Errorf("--max-jobs %d: want at least 1", o.maxJobs)
	}
	if o.keepJobs < 1 {
		return fmt.Errorf("--keep-jobs %d: want at least 1", o.keepJobs)
	}

	nd, err := node.Start(ctx, node.Config{
		Mesh: mesh.Config{
			DataDir: dataDir, KeyPath: keyPath, Listen: listen, Announce: o.announce, Bootstrap: o.bootstrap,
			Name: o.name, Role: o.role, Version: version, MDNS: !o.noMDNS, DHT: !o.noDHT,
		},
		Jobs: job.Config{PrivateData: job.PrivateDataByName(private), JoinPolicy: o.joinPolicy,
			MaxJobs: o.maxJobs, MemBudget: budget, KeepFinished: o.keepJobs},
		API:      serve.ControlConfig{Addr: o.api},
		Serve:    o.http.config(),
		Registry: edgeRegistry(o.http.registry(), o.role, budget),
		Pull:     o.serve,
		Logger:   log,
	})
	if err != nil {
		return err
	}
	defer func() {
		log.Info("shutting down")
		if err := nd.Close(); err != nil {
			log.Warn("node close", "err", err)
		}
	}()
	m := nd.Mesh()
	fmt.Fprintf(stderr, "shoal up: peer %s in mesh %s, listening on:\n", m.ID(), m.MeshID())
	for _, a := range m.Addrs() {
		fmt.Fprintln(stderr, "  "+a)
	}
	fmt.Fprintf(stderr, "control API on %s (token in %s)\n", nd.APIAddr(), controlapi.TokenPath(dataDir))
	fmt.Fprintf(stderr, "serving models on http://%s (TF Serving /v1, KServe /v2, /metrics)\n", nd.ServeAddr())
	if b, _ := nd.Catalog().MemoryUse(); o.role == mesh.RoleEdge && b > 0 {
		fmt.Fprintf(stderr, "edge node: pulls int8 models, loaded within a memory budget of %s\n", humanize.IBytes(uint64(b)))
	}
	printJoinHelp(stderr, keyPath, m, created)
	if console {
		// Quitting the console ends `shoal up`, and the deferred Close
		// stops the node.
		opt := consoleOptions(nd.APIAddr(), o.images, consoleLog)
		opt.QuitStopsNode = true
		return tui.Run(ctx, nd.APIClient(), opt)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-nd.Failed():
		return err // already says "control API …"
	}
}

// edgeRegistry gives an edge node's loaded models the --mem-budget (a
// full node's models are not bounded by it: there it is a per-job cap).
func edgeRegistry(ro registry.Options, role string, budget int64) registry.Options {
	if role == mesh.RoleEdge {
		ro.MemBudget = budget
	}
	return ro
}

// printJoinHelp tells the operator the exact line another machine joins
// with: a TCP address other machines can reach when there is one (the
// first non-loopback one), else the first.
func printJoinHelp(w io.Writer, keyPath string, node *mesh.Node, created bool) {
	boot := "<this machine's address>"
	as := node.Addrs()
	if len(as) > 0 {
		boot = as[0]
	}
	for _, a := range as {
		if strings.Contains(a, "/tcp/") && !strings.Contains(a, "/ws") && !strings.Contains(a, "/127.0.0.1/") && !strings.Contains(a, "/ip6/::1/") {
			boot = a
			break
		}
	}
	if created {
		fmt.Fprintf(w, "\nCreated a new mesh key: %s\n", keyPath)
	} else {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "To let another machine join this mesh:\n")
	fmt.Fprintf(w, "  1. copy %s to it over a channel you trust (it is the mesh's only secret)\n", keyPath)
	fmt.Fprintf(w, "  2. there, run: shoal up --key swarm.key --bootstrap %s\n", boot)
	if strings.Contains(boot, "/127.0.0.1/") {
		fmt.Fprintf(w, "  This node listens on loopback only; for other machines, start it with e.g.\n")
		fmt.Fprintf(w, "  --listen /ip4/0.0.0.0/tcp/4001 and use this machine's LAN address in --bootstrap.\n")
	}
	fmt.Fprintln(w)
}
