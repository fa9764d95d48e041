package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
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
	// Quantization describes an int8 file's scheme; absent for a float one.
	Quantization *inspectQuant `json:"quantization,omitempty"`
}

// inspectQuant is the quantization of an int8 model file, as inspect shows it.
type inspectQuant struct {
	artifact.Quantization
	// ActivationMode is "dynamic" (each row quantized with its own scale
	// as it arrives) or "static" (fixed scales from calibration data).
	ActivationMode string `json:"activation_mode"`
	// Layers are the layers with int8 weights; the others run in float32.
	Layers []inspectQuantLayer `json:"layers"`
}

type inspectQuantLayer struct {
	Index int    `json:"index"`
	Type  string `json:"type"`
	// Tensors are its int8 tensors, each with a float32 scale per output
	// channel (the tensor named after it plus ".scale").
	Tensors []string `json:"tensors"`
	// ActMax is the calibrated largest input (static activations; 0:
	// this layer quantizes its input dynamically).
	ActMax float32 `json:"act_max,omitempty"`
}

// describeQuant lists which layers of an int8 artifact hold int8 weights,
// from its stored tensors (named layers.<index>.<type>.<param>).
func describeQuant(a *artifact.Artifact) *inspectQuant {
	q, ok := a.Quantization()
	if !ok {
		return nil
	}
	out := &inspectQuant{Quantization: q, ActivationMode: "dynamic"}
	if len(q.ActMax) > 0 {
		out.ActivationMode = "static"
	}
	spec := a.Model.Spec()
	byLayer := map[int]*inspectQuantLayer{}
	var order []int
	for _, t := range a.Stored {
		if t.DType != "I8" {
			continue
		}
		parts := strings.SplitN(t.Name, ".", 4)
		i, err := strconv.Atoi(parts[min(1, len(parts)-1)])
		if len(parts) < 3 || parts[0] != "layers" || err != nil || i < 0 || i >= len(spec.Layers) {
			continue
		}
		l, ok := byLayer[i]
		if !ok {
			l = &inspectQuantLayer{Index: i, Type: spec.Layers[i].Type}
			if i < len(q.ActMax) {
				l.ActMax = q.ActMax[i]
			}
			byLayer[i] = l
			order = append(order, i)
		}
		l.Tensors = append(l.Tensors, t.Name)
	}
	slices.Sort(order)
	for _, i := range order {
		out.Layers = append(out.Layers, *byLayer[i])
	}
	return out
}

func newInspectCmd() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Show a model file's spec, size, parameters, dtype and hash",
		Long: `Check a model file (size limits, offsets, content hash, spec against
tensors) and describe it. For an int8 file (shoal quantize) it also shows the
scheme: int8 weights with a float32 scale per output channel, activations
dynamic or static (calibrated), and which layers hold int8 weights.`,
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
				Quantization: describeQuant(a),
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
			int8Layer := map[int]inspectQuantLayer{}
			if q := out.Quantization; q != nil {
				fmt.Fprintf(w, "quantized   %s: weights %s\n", q.Scheme, q.Weights)
				act := "dynamic (each row quantized with its own scale)"
				if q.ActivationMode == "static" {
					act = "static (scales calibrated from data)"
				}
				var idx []string
				for _, l := range q.Layers {
					int8Layer[l.Index] = l
					idx = append(idx, fmt.Sprintf("%d %s", l.Index, l.Type))
				}
				fmt.Fprintf(w, "activations %s\n", act)
				if q.Kernel != "" {
					fmt.Fprintf(w, "kernel      quantized where the int8 kernel was %s (each machine runs its own)\n", q.Kernel)
				}
				fmt.Fprintf(w, "int8 layers %s (the others float32)\n", strings.Join(idx, ", "))
			}
			for i, l := range out.Spec.Layers {
				b, _ := json.Marshal(l)
				form := ""
				if ql, ok := int8Layer[i]; ok {
					form = "  [int8]"
					if ql.ActMax > 0 {
						form = fmt.Sprintf("  [int8, static input max %g]", ql.ActMax)
					}
				}
				fmt.Fprintf(w, "layer %-5d %s%s\n", i, b, form)
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
