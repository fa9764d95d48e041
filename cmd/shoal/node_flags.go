package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// resolveDataDir picks the data dir: the flag, else SHOAL_DATA_DIR, else
// $XDG_DATA_HOME/shoal; it creates it (mode 0700) when create is set.
func resolveDataDir(flagValue string, create bool) (string, error) {
	dir := flagValue
	if dir == "" {
		dir = mesh.DefaultDataDir()
	}
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("data dir: %w", err)
		}
	}
	return dir, nil
}

// addDataDirFlag registers the --data-dir flag every node command shares.
func addDataDirFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "data-dir", "", "where the node keeps its identity, key and models (default $SHOAL_DATA_DIR, else $XDG_DATA_HOME/shoal)")
}

// apiFlags are the flags of every command that talks to a running node
// through its control API (peers, jobs, job submit): where the API is, and
// the data dir that holds its token.
type apiFlags struct {
	api     string
	dataDir string
	asJSON  bool
}

func (a *apiFlags) register(cmd *cobra.Command, jsonHelp string) {
	f := cmd.Flags()
	f.StringVar(&a.api, "api", controlapi.DefaultAddr, "address of the node's control API")
	f.StringVar(&a.dataDir, "data-dir", "", "the node's data dir, holding its API token (default $SHOAL_DATA_DIR, else $XDG_DATA_HOME/shoal)")
	f.BoolVar(&a.asJSON, "json", false, jsonHelp)
}

// client reads the node's API token from the data dir (never creating the
// dir: a client has nothing to put there) and returns a client for --api.
func (a *apiFlags) client() (*controlapi.Client, error) {
	dir, err := resolveDataDir(a.dataDir, false)
	if err != nil {
		return nil, err
	}
	return controlapi.NewFromDataDir(a.api, dir)
}

// addLogLevelFlag registers --log-level.
func addLogLevelFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "log-level", "info", "log detail on stderr: debug, info, warn or error")
}

// newLogger logs text lines to w (stderr: diagnostics never go to stdout).
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "", "info":
		l = slog.LevelInfo
	case "warn", "warning":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// defaultUpListen is where `shoal up` listens without --listen: loopback
// only, so a node exposes nothing to the network unless told to.
var defaultUpListen = []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/tcp/4002/ws"}
