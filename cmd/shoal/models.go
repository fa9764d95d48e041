package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/node"
)

func init() { subcommands = append(subcommands, newModelsCmd) }

// modelsFlags are the flags every `shoal models` command shares: the node's
// data dir, whose models/ folder is the store. The store is plain files, so
// these commands work with or without a running node; a running node picks
// up what they change without a restart.
type modelsFlags struct {
	dataDir string
	asJSON  bool
}

func (f *modelsFlags) store() (*modelstore.Store, error) {
	dir, err := resolveDataDir(f.dataDir, true)
	if err != nil {
		return nil, err
	}
	return modelstore.Open(filepath.Join(dir, node.ModelsDir))
}

func newModelsCmd() *cobra.Command {
	var f modelsFlags
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List, add, label, remove and pull the models of this node's model store",
		Long: "Lists the models in <data-dir>/models: every version with its size and content hash, and the labels.\n" +
			"Versions are numbered folders; the newest is served unless a version or a label is asked for.\n" +
			"With --json it prints one JSON array whose fields are only ever added to.",
		Example: "  shoal models\n  shoal models --json\n  shoal models add digits mlp.safetensors\n  shoal models label digits 3 stable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.store()
			if err != nil {
				return err
			}
			list, err := listModels(s)
			if err != nil {
				return err
			}
			if f.asJSON {
				return writeJSONLine(cmd.OutOrStdout(), list)
			}
			if len(list) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no models in %s (add one with `shoal models add NAME FILE`)\n", s.Root())
			}
			return writeModelsTable(cmd.OutOrStdout(), list)
		},
	}
	addDataDirFlag(cmd.PersistentFlags(), &f.dataDir)
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print a JSON array instead of a table")
	cmd.AddCommand(newModelsAddCmd(&f), newModelsLabelCmd(&f), newModelsRmCmd(&f), newModelsPullCmd(&f),
		newModelsServingCmd(&f, false), newModelsServingCmd(&f, true))
	return cmd
}

// modelListing is one model in `shoal models --json`.
type modelListing struct {
	Name     string           `json:"name"`
	Versions []versionListing `json:"versions"`
	Labels   map[string]int   `json:"labels"`
}

type versionListing struct {
	Version int    `json:"version"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"` // the model file's content hash, as recorded in it
	Error   string `json:"error,omitempty"`
}

func listModels(s *modelstore.Store) ([]modelListing, error) {
	names, err := s.List()
	if err != nil {
		return nil, err
	}
	out := []modelListing{}
	for _, name := range names {
		vs, err := s.Versions(name)
		if err != nil {
			return nil, err
		}
		labels, err := s.Labels(name)
		if err != nil {
			return nil, err
		}
		m := modelListing{Name: name, Labels: labels}
		for _, v := range slices.Backward(vs) {
			m.Versions = append(m.Versions, describeVersion(s, name, v))
		}
		out = append(out, m)
	}
	return out, nil
}

// describeVersion loads the version as a server would (the hash is checked
// on load), so the listing shows which versions would fail to serve.
func describeVersion(s *modelstore.Store, name string, v int) versionListing {
	vl := versionListing{Version: v}
	path, err := s.Path(name, v)
	if err != nil {
		vl.Error = err.Error()
		return vl
	}
	if st, err := os.Stat(path); err == nil {
		vl.Bytes = st.Size()
	}
	a, err := artifact.Load(path)
	if err != nil {
		vl.Error = err.Error()
		return vl
	}
	vl.SHA256 = a.Hash
	return vl
}

func writeModelsTable(w io.Writer, list []modelListing) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tVERSION\tBYTES\tSHA256\tLABELS")
	for _, m := range list {
		for _, v := range m.Versions {
			var labels []string
			for l, lv := range m.Labels {
				if lv == v.Version {
					labels = append(labels, l)
				}
			}
			slices.Sort(labels)
			hash := v.SHA256
			if len(hash) > 12 {
				hash = hash[:12]
			}
			if v.Error != "" {
				hash = "BROKEN: " + v.Error
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", m.Name, v.Version, v.Bytes, hash, strings.Join(labels, ","))
		}
	}
	return tw.Flush()
}

func newModelsAddCmd(f *modelsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "add NAME FILE",
		Short: "Add a model file as the next version of NAME",
		Long: "Checks that FILE loads as a shoal model (its content hash included), then copies it atomically into\n" +
			"<data-dir>/models/NAME/<next version>/ and prints the version. A running node serves it without a restart.",
		Example: "  shoal models add digits mlp.safetensors",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, file := args[0], args[1]
			if err := modelstore.ValidName(name); err != nil {
				return err
			}
			if _, err := artifact.Load(file); err != nil {
				return fmt.Errorf("%s is not a model shoal can serve: %w", file, err)
			}
			s, err := f.store()
			if err != nil {
				return err
			}
			v, err := s.PublishFile(name, file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d\n", name, v)
			return nil
		},
	}
}

func newModelsLabelCmd(f *modelsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "label NAME VERSION LABEL",
		Short: "Point LABEL (e.g. stable, canary) at a version of NAME that loads",
		Long: "Sets LABEL to VERSION after checking that the version loads (a label may point only at a servable version).\n" +
			"Requests for /v1/models/NAME/labels/LABEL then go to that version.",
		Example: "  shoal models label digits 3 stable\n  shoal models label digits 4 canary",
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, label := args[0], args[2]
			v, err := strconv.Atoi(args[1])
			if err != nil || v < 1 {
				return fmt.Errorf("version %q: want a number from 1", args[1])
			}
			s, err := f.store()
			if err != nil {
				return err
			}
			if d := describeVersion(s, name, v); d.Error != "" {
				if errors.Is(errNotFoundOf(s, name, v), modelstore.ErrNotFound) {
					return fmt.Errorf("%s has no version %d", name, v)
				}
				return fmt.Errorf("%s version %d does not load, so it cannot be labelled: %s", name, v, d.Error)
			}
			if err := s.SetLabel(name, label, v); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/labels/%s -> version %d\n", name, label, v)
			return nil
		},
	}
}

// errNotFoundOf is the store's answer for the version's file: nil when it
// exists.
func errNotFoundOf(s *modelstore.Store, name string, v int) error {
	_, err := s.Path(name, v)
	return err
}

// splitRef splits NAME[@REF] into the name and the reference ("" when
// there is none): a version number, a label, or "latest".
func splitRef(arg string) (name, ref string, err error) {
	name, ref, _ = strings.Cut(arg, "@")
	if err := modelstore.ValidName(name); err != nil {
		return "", "", err
	}
	if ref == "latest" {
		return name, "", nil
	}
	if ref != "" && modelstore.ValidLabel(ref) != nil {
		if v, err := strconv.Atoi(ref); err != nil || v < 1 || strconv.Itoa(v) != ref {
			return "", "", fmt.Errorf("%q: after @ give a version number from 1, a label or latest", arg)
		}
	}
	return name, ref, nil
}

func newModelsRmCmd(f *modelsFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME[@VERSION]",
		Short: "Remove a version of NAME, or the whole model with its labels",
		Long: "Removes NAME@VERSION from <data-dir>/models (labels pointing at it go too), or, without @VERSION,\n" +
			"every version and label of NAME. The folder is renamed aside and then deleted, so a running node\n" +
			"sees the version either whole or gone, and stops serving it without a restart.",
		Example: "  shoal models rm digits@3\n  shoal models rm digits",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ref, err := splitRef(args[0])
			if err != nil {
				return err
			}
			v := 0
			if ref == "" && strings.Contains(args[0], "@") {
				return fmt.Errorf("%q: rm takes a version number after @ (or none, to remove every version)", args[0])
			}
			if ref != "" {
				if v, err = strconv.Atoi(ref); err != nil {
					return fmt.Errorf("%q: rm takes a version number after @, not a label", args[0])
				}
			}
			s, err := f.store()
			if err != nil {
				return err
			}
			if err := s.Remove(name, v); err != nil {
				if errors.Is(err, modelstore.ErrNotFound) && v > 0 {
					return fmt.Errorf("%s has no version %d", name, v)
				}
				if errors.Is(err, modelstore.ErrNotFound) {
					return fmt.Errorf("no model %s in %s", name, s.Root())
				}
				return err
			}
			if v > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s version %d\n", name, v)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s (every version and label)\n", name)
			}
			return nil
		},
	}
}

func newModelsPullCmd(f *modelsFlags) *cobra.Command {
	var (
		api, peerID string
		asJSON      bool
	)
	cmd := &cobra.Command{
		Use:   "pull NAME[@VERSION|@LABEL]",
		Short: "Pull a model from a peer into the running node's store",
		Long: "Asks the running node (`shoal up`), through its control API, to fetch NAME from a peer over the mesh:\n" +
			"from --peer, or else from the live peers that announce NAME, nearest first. The node checks the size,\n" +
			"the SHA-256 and that the file loads before it publishes it as its next local version, and prints\n" +
			"that version and the peer it came from. Use the node's --data-dir (it holds the API token).\n" +
			"An edge node (`shoal up --role edge`) pulls the int8 form from a peer that serves one, else quantizes\n" +
			"the float form itself, and refuses a model that would not fit its --mem-budget.",
		Example: "  shoal models pull digits\n  shoal models pull digits@stable --peer 12D3KooW...\n  shoal models pull digits@3 --api 127.0.0.1:7071 --data-dir ./node-b --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ref, err := splitRef(args[0])
			if err != nil {
				return err
			}
			var req controlapi.PullRequest
			req.Peer = peerID
			if v, err := strconv.Atoi(ref); err == nil {
				req.Version = v
			} else {
				req.Label = ref
			}
			a := apiFlags{api: api, dataDir: f.dataDir}
			c, err := a.client()
			if err != nil {
				return err
			}
			res, err := pullModel(cmd.Context(), c, name, req)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONLine(cmd.OutOrStdout(), res)
			}
			form := ""
			switch {
			case res.QuantizedHere:
				form = ", quantized to int8 here"
			case res.Int8:
				form = ", int8"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %d (version %d from peer %s, %d bytes, sha256 %s%s)\n",
				res.Name, res.Version, res.RemoteVersion, res.Peer, res.Bytes, res.SHA256, form)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&api, "api", controlapi.DefaultAddr, "address of the node's control API")
	fl.StringVar(&peerID, "peer", "", "pull from this peer id (default: any peer that announces the model)")
	fl.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	return cmd
}

// newModelsServingCmd is `shoal models unload` (serve false) or `shoal
// models serve`.
func newModelsServingCmd(f *modelsFlags, serve bool) *cobra.Command {
	var api string
	use, short, done := "unload NAME", "Stop serving a model on the running node (its files stay)", "unloaded"
	long := "Asks the running node, through its control API, to unload every version of NAME: it answers no\n" +
		"query for it and its heartbeats stop announcing it, so queries go to peers that serve it. The files\n" +
		"stay in the store; `shoal models serve NAME` undoes it (so does restarting the node)."
	if serve {
		use, short, done = "serve NAME", "Serve a model the running node was told to unload", "served"
		long = "Undoes `shoal models unload NAME` on the running node: its versions load again as usual."
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		Example: "  shoal models " + strings.Fields(use)[0] + " digits\n  shoal models " + strings.Fields(use)[0] + " digits --api 127.0.0.1:7071 --data-dir ./node-b",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := apiFlags{api: api, dataDir: f.dataDir}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.SetModelServing(cmd.Context(), args[0], serve); err != nil {
				return fmt.Errorf("%s %s: %w", strings.Fields(use)[0], args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", done, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&api, "api", controlapi.DefaultAddr, "address of the node's control API")
	return cmd
}

func pullModel(ctx context.Context, c *controlapi.Client, name string, req controlapi.PullRequest) (controlapi.PullResponse, error) {
	res, err := c.PullModel(ctx, name, req)
	if err != nil {
		return res, fmt.Errorf("pull %s: %w", name, err)
	}
	return res, nil
}
