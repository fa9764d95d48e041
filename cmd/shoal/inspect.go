package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/nn"
)

func init() { subcommands = append(subcommands, newInspectCmd) }

// inspectOutput is the --json result of `shoal inspect`; fields may be
// added, never removed.
type inspectOutput struct {
	Path      string   `json:"path"`
	Format    string   `json:"format"`
	Kind      string   `json:"kind"`
	Spec      nn.Spec  `json:"spec"`
	Params    int      `json:"params"`
	SizeBytes int64    `json:"size_bytes"`
	DTypes    []string `json:"dtypes"`
	SHA256    string   `json:"sha256"`
	// Size, DType and Hash repeat the above under the names the CLI
	// contract of inspect --json uses (dtype joins several with ",").
	Size       int64                 `json:"size"`
	DType      string                `json:"dtype"`
	Hash       string                `json:"hash"`
	Labels     []string              `json:"labels"`
	VocabSize  int                   `json:"vocab_size,omitempty"`
	MaxLen     int                   `json:"max_len,omitempty"`
	Tokenizer  string                `json:"tokenizer,omitempty"`
	Tensors    []artifact.TensorInfo `json:"tensors"`
	Provenance artifact.Provenance   `json:"provenance"`
}

func newInspectCmd() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Show a model file's spec, size, parameters, dtype and hash",
		Long: `Check a model file (size limits, offsets, content hash, spec against
tensors) and describe it.`,
		Example: "  shoal inspect mlp.safetensors --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := artifact.Load(args[0])
			if err != nil {
				return err
			}
			st, err := os.Stat(args[0])
			if err != nil {
				return err
			}
			out := inspectOutput{
				Path: args[0], Format: artifact.Format, Kind: a.Kind, Spec: a.Model.Spec(),
				Params: a.Model.NumParams(), SizeBytes: st.Size(), SHA256: a.Hash,
				Labels: a.Labels, Tensors: a.Stored, Provenance: a.Provenance,
			}
			for _, t := range a.Stored {
				if !slices.Contains(out.DTypes, t.DType) {
					out.DTypes = append(out.DTypes, t.DType)
				}
			}
			out.Size, out.DType, out.Hash = out.SizeBytes, strings.Join(out.DTypes, ","), out.SHA256
			if a.Encoder != nil {
				out.VocabSize = a.Encoder.Vocab.Size()
				out.MaxLen = a.Encoder.MaxLen
				out.Tokenizer = a.Encoder.Tokenizer.Kind
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return writeJSONLine(w, out)
			}
			fmt.Fprintf(w, "file        %s\n", out.Path)
			fmt.Fprintf(w, "format      %s, %s model\n", out.Format, out.Kind)
			fmt.Fprintf(w, "parameters  %d\n", out.Params)
			fmt.Fprintf(w, "size        %d bytes\n", out.SizeBytes)
			fmt.Fprintf(w, "dtype       %s\n", strings.Join(out.DTypes, ", "))
			fmt.Fprintf(w, "sha256      %s\n", out.SHA256)
			fmt.Fprintf(w, "labels      %s\n", strings.Join(out.Labels, ", "))
			if a.Encoder != nil {
				fmt.Fprintf(w, "tokenizer   %s, vocabulary %d, max length %d\n", out.Tokenizer, out.VocabSize, out.MaxLen)
			}
			fmt.Fprintf(w, "input       %v\n", out.Spec.Input)
			for i, l := range out.Spec.Layers {
				b, _ := json.Marshal(l)
				fmt.Fprintf(w, "layer %-5d %s\n", i, b)
			}
			p := a.Provenance
			if !p.Created.IsZero() {
				fmt.Fprintf(w, "trained     %s by shoal %s: %s on %s, %d epochs, batch %d, seed %d\n",
					p.Created.Format("2006-01-02 15:04:05Z07:00"), p.Shoal, p.Model, p.Data, p.Epochs, p.Batch, p.Seed)
			}
			if p.TestAccuracy != nil {
				fmt.Fprintf(w, "test        accuracy %.2f%% on %d samples\n", 100**p.TestAccuracy, p.TestSamples)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print the description as one JSON object")
	c.ValidArgsFunction = modelFileCompletion
	return c
}
