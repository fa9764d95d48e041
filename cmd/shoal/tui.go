package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/tui"
)

func init() { subcommands = append(subcommands, newTUICmd) }

// tuiFlags are `shoal tui`'s flags.
type tuiFlags struct {
	api     string
	dataDir string
	logFile string
	images  string
}

func newTUICmd() *cobra.Command {
	var o tuiFlags
	cmd := &cobra.Command{
		Use:   "tui",
		Short: "Open the operator console on a running node",
		Long: "tui attaches an interactive console to a running node (`shoal up`) through its local control API:\n" +
			"Peers, Jobs (with a form to start one, cancel, charts), Models (label, remove, pull), Query and Log screens\n" +
			"update live, and a lost connection is retried until the node is back (the stream resumes where it broke).\n" +
			"The API token is read from the node's data dir, so use the same --data-dir (or SHOAL_DATA_DIR) as the node.\n" +
			"Press ? inside for every key (also in docs/keys.md). The console logs to a file, never to the screen;\n" +
			"NO_COLOR turns colours off.",
		Example: "  shoal tui\n  shoal tui --api 127.0.0.1:7071 --data-dir ./node-b",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !term.IsTerminal(int(os.Stdout.Fd())) || !term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("shoal tui needs a terminal (use `shoal peers` or `shoal jobs` in scripts)")
			}
			dir, err := resolveDataDir(o.dataDir, false)
			if err != nil {
				return err
			}
			c, err := controlapi.NewFromDataDir(o.api, dir)
			if err != nil {
				return err
			}
			logPath := o.logFile
			if logPath == "" {
				logPath = filepath.Join(dir, "tui.log")
			}
			lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				return fmt.Errorf("console log: %w", err)
			}
			defer lf.Close()
			log := slog.New(slog.NewTextHandler(lf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			return tui.Run(cmd.Context(), c, consoleOptions(o.api, o.images, log))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.api, "api", controlapi.DefaultAddr, "address of the node's control API")
	f.StringVar(&o.dataDir, "data-dir", "", "the node's data dir, holding its API token (default $SHOAL_DATA_DIR, else $XDG_DATA_HOME/shoal)")
	f.StringVar(&o.logFile, "log-file", "", "where the console logs (default tui.log in the data dir)")
	f.StringVar(&o.images, "images", "", "MNIST test images (t10k-images-idx3-ubyte[.gz]) the Query screen offers as inputs")
	return cmd
}

// consoleOptions are the console's options for `shoal tui` and `shoal up`.
func consoleOptions(addr, images string, log *slog.Logger) tui.Options {
	return tui.Options{Addr: addr, Logger: log, Refresh: tuiRefresh, Poll: tuiPoll, Images: images}
}

// tuiRefresh is how often "last seen" times are redrawn.
const tuiRefresh = time.Second

// tuiPoll is how often the console reads peers and jobs again, for what no
// event reports yet (RTT, load, last seen).
const tuiPoll = 5 * time.Second
