package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

func init() { subcommands = append(subcommands, newUpCmd) }

type upOptions struct {
	keyPath   string
	listen    []string
	bootstrap []string
	name      string
	role      string
	api       string
	headless  bool
	noMDNS    bool
	noDHT     bool
	dataDir   string
	logLevel  string
}

func newUpCmd() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a node of the mesh until Ctrl-C",
		Long: "Joins the mesh whose key is --key (default <data-dir>/swarm.key, created when absent),\n" +
			"listens on --listen (default: loopback only, tcp 4001 and ws 4002), dials --bootstrap peers,\n" +
			"finds peers on the LAN with mDNS and through a private DHT, and serves the local control API\n" +
			"on --api. Logs go to stderr. Ctrl-C or SIGTERM shuts it down cleanly.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.keyPath, "key", "", "mesh key file (default <data-dir>/swarm.key, created if absent)")
	f.StringArrayVar(&o.listen, "listen", nil, "listen multiaddr, TCP or WebSocket (repeatable; default "+strings.Join(defaultUpListen, " and ")+")")
	f.StringArrayVar(&o.bootstrap, "bootstrap", nil, "peer to dial at start, /ip4/…/tcp/…/p2p/<id> (repeatable)")
	f.StringVar(&o.name, "name", "", "name shown to other peers (default: host name)")
	f.StringVar(&o.role, "role", mesh.RoleFull, "full (trains and serves) or edge (small device: serves, trains only when asked)")
	f.StringVar(&o.api, "api", controlapi.DefaultAddr, "control API address (loopback only)")
	f.BoolVar(&o.headless, "headless", false, "log instead of opening the terminal UI")
	f.BoolVar(&o.noMDNS, "no-mdns", false, "do not look for peers on the LAN with mDNS")
	f.BoolVar(&o.noDHT, "no-dht", false, "do not run the private DHT")
	addDataDirFlag(f, &o.dataDir)
	addLogLevelFlag(f, &o.logLevel)
	return cmd
}

func runUp(cmd *cobra.Command, o upOptions) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	if o.role != mesh.RoleFull && o.role != mesh.RoleEdge {
		return fmt.Errorf("--role %q: want full or edge", o.role)
	}
	// Refuse a non-loopback --api before joining the mesh, not after.
	if err := serve.CheckLoopback(o.api, false); err != nil {
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
	if !o.headless {
		fmt.Fprintln(stderr, "shoal up: the terminal UI is not built yet; running headless (logs on stderr)")
	}
	listen := o.listen
	if len(listen) == 0 {
		listen = defaultUpListen
	}

	// The job manager needs the node, and the node's heartbeats name the
	// jobs and models: the heartbeat reads them through this pointer, set
	// once the manager runs.
	var extra atomic.Pointer[func() mesh.PresenceExtra]
	node, err := mesh.Start(ctx, mesh.Config{
		DataDir: dataDir, KeyPath: keyPath, Listen: listen, Bootstrap: o.bootstrap,
		Name: o.name, Role: o.role, Version: version, MDNS: !o.noMDNS, DHT: !o.noDHT,
		Logger: log.With("part", "mesh"),
		PresenceExtra: func() mesh.PresenceExtra {
			if f := extra.Load(); f != nil {
				return (*f)()
			}
			return mesh.PresenceExtra{}
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		log.Info("shutting down")
		if err := node.Close(); err != nil {
			log.Warn("node close", "err", err)
		}
	}()
	fmt.Fprintf(stderr, "shoal up: peer %s in mesh %s, listening on:\n", node.ID(), node.MeshID())
	for _, a := range node.Addrs() {
		fmt.Fprintln(stderr, "  "+a)
	}
	if created {
		printJoinHelp(stderr, keyPath, node)
	}

	jobs, err := startJobs(node, dataDir, o.role, log)
	if err != nil {
		return err
	}
	defer jobs.Close() // before the node closes: defers run last-in first-out
	f := func() mesh.PresenceExtra { return presenceExtra(jobs) }
	extra.Store(&f)

	apiErr := make(chan error, 1)
	go func() {
		apiErr <- serve.ListenAndServeControl(ctx, jobs.ControlNode(serve.FromMesh(node)), serve.ControlConfig{
			Addr: o.api, DataDir: dataDir, Routes: jobs.Routes(), Logger: log.With("part", "api"),
		})
	}()
	select {
	case <-ctx.Done():
		<-apiErr // the API shuts down on the same ctx
		return nil
	case err := <-apiErr:
		if err != nil {
			return err // already says "control API …"
		}
		<-ctx.Done()
		return nil
	}
}

// presenceExtra lists the models this node holds and the jobs it has not
// finished, for its heartbeats (which keep at most 64 of each).
func presenceExtra(jobs *nodeJobs) mesh.PresenceExtra {
	var x mesh.PresenceExtra
	if names, err := jobs.Models().List(); err == nil {
		x.Models = names
	}
	for _, j := range jobs.Manager().Jobs() {
		if j.Result == nil {
			x.Jobs = append(x.Jobs, j.Spec.ID)
		}
	}
	return x
}

// printJoinHelp tells a first-time user how a second machine joins.
func printJoinHelp(w io.Writer, keyPath string, node *mesh.Node) {
	boot := "<this machine's address>"
	if as := node.Addrs(); len(as) > 0 {
		boot = as[0]
	}
	fmt.Fprintf(w, "\nCreated a new mesh key: %s\n", keyPath)
	fmt.Fprintf(w, "To let another machine join this mesh:\n")
	fmt.Fprintf(w, "  1. copy %s to it over a channel you trust (it is the mesh's only secret)\n", keyPath)
	fmt.Fprintf(w, "  2. there, run: shoal up --key swarm.key --bootstrap %s\n", boot)
	if strings.Contains(boot, "/127.0.0.1/") {
		fmt.Fprintf(w, "  This node listens on loopback only; for other machines, start it with e.g.\n")
		fmt.Fprintf(w, "  --listen /ip4/0.0.0.0/tcp/4001 and use this machine's LAN address in --bootstrap.\n")
	}
	fmt.Fprintln(w)
}
