package main

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/modelserver"
	"github.com/shoalmesh/shoal/serve/registry"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// httpServeFlags are the model server's flags, shared by `shoal up` and
// `shoal serve`.
type httpServeFlags struct {
	addr         string
	token        string
	allowRemote  bool
	maxBatch     int
	maxQueue     int
	batchTimeout time.Duration
}

func (h *httpServeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&h.addr, "http", modelserver.DefaultAddr, "model server address: TF Serving REST (/v1), KServe v2 (/v2), /metrics")
	f.StringVar(&h.token, "http-token", "", "require this bearer token on the model server (default: none, like TF Serving on loopback)")
	f.BoolVar(&h.allowRemote, "http-allow-remote", false, "let --http bind a non-loopback address (plain HTTP: use --http-token)")
	f.IntVar(&h.maxBatch, "max-batch-size", 32, "most inputs one forward pass takes when requests are batched together")
	f.IntVar(&h.maxQueue, "max-queue", registry.DefaultQueueSize, "requests that may wait for a forward pass, per model version; more are answered 429 at once")
	f.DurationVar(&h.batchTimeout, "batch-timeout", 0, "how long a batch that is not full waits for more requests (0: take what is queued)")
}

func (h *httpServeFlags) check() error {
	if err := serve.CheckLoopback(h.addr, h.allowRemote); err != nil {
		return fmt.Errorf("--http: %w (add --http-allow-remote to serve beyond this machine)", err)
	}
	if h.maxBatch < 1 {
		return fmt.Errorf("--max-batch-size %d: want at least 1", h.maxBatch)
	}
	if h.maxQueue < 1 {
		return fmt.Errorf("--max-queue %d: want at least 1", h.maxQueue)
	}
	if h.batchTimeout < 0 {
		return fmt.Errorf("--batch-timeout %v: want 0 or more", h.batchTimeout)
	}
	return nil
}

func (h *httpServeFlags) config() modelserver.Config {
	return modelserver.Config{Addr: h.addr, Token: h.token, AllowNonLoopback: h.allowRemote}
}

func (h *httpServeFlags) registry() registry.Options {
	return registry.Options{MaxBatchSize: h.maxBatch, QueueSize: h.maxQueue, BatchTimeout: h.batchTimeout}
}

func newServeCmd() *cobra.Command {
	var models, logLevel string
	var h httpServeFlags
	cmd := &cobra.Command{
		Use:   "serve --models DIR",
		Short: "Serve a folder of models over TF Serving's REST API and KServe v2, without the mesh",
		Long: "Serves every model of a model store folder (DIR/<name>/<version>/model.safetensors) on --http, the way\n" +
			"TensorFlow Serving does: the newest version that loads unless a version or label is asked for; versions added\n" +
			"to DIR (by `shoal models add`, a job or a copy) are served without a restart, and ones that fail to load are\n" +
			"reported and never served. No mesh, no key: for users who only want a model server.",
		Example: "  shoal serve --models ~/.local/share/shoal/models\n" +
			"  curl -d '{\"instances\": [\"win a free prize now\"]}' localhost:8501/v1/models/sms:predict",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			if models == "" {
				return fmt.Errorf("--models DIR is required")
			}
			if err := h.check(); err != nil {
				return err
			}
			store, err := modelstore.Open(models)
			if err != nil {
				return err
			}
			prom := prometheus.NewRegistry()
			ro := h.registry()
			ro.Registerer, ro.Logger = prom, log.With("part", "models")
			reg, err := registry.New(store, ro)
			if err != nil {
				return err
			}
			defer reg.Close()
			sc := h.config()
			sc.Catalog, sc.Registry, sc.Version, sc.Logger = reg, prom, version, log.With("part", "serve")
			srv, err := modelserver.Start(cmd.Context(), sc)
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "serving %s on http://%s (TF Serving /v1, KServe /v2, /metrics) until Ctrl-C\n", store.Root(), srv.Addr())
			select {
			case <-cmd.Context().Done():
				return nil
			case err := <-srv.Failed():
				return err
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&models, "models", "", "model store folder to serve (e.g. <data-dir>/models)")
	h.register(f)
	addLogLevelFlag(f, &logLevel)
	return cmd
}
