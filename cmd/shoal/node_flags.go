package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shoalmesh/shoal/mesh"
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
