package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/text"
)

func init() { subcommands = append(subcommands, newPredictCmd) }

// predictOutput is the --json result of `shoal predict`; fields may be
// added, never removed.
type predictOutput struct {
	Model       string          `json:"model"`
	Predictions []predictionOut `json:"predictions"`
}

type predictionOut struct {
	Input         string             `json:"input,omitempty"` // text inputs only
	Label         string             `json:"label"`
	Class         int                `json:"class"`
	Probability   float64            `json:"probability"`
	Probabilities map[string]float64 `json:"probabilities"`
	// Truncated says a text had more ids than the model reads (its end
	// was not seen); text inputs only.
	Truncated bool `json:"truncated,omitempty"`
}

// maxStdinLine bounds one input line read from stdin, far above any real
// input (a 28x28 image is 784 numbers: under 20 KB of JSON even at full
// float64 precision).
const maxStdinLine = 16 << 20

func newPredictCmd() *cobra.Command {
	var jsonOut bool
	c := &cobra.Command{
		Use:   "predict MODEL [INPUT...]",
		Short: "Predict the label of texts or numeric vectors with a model file",
		Long: `Predict labels with a model file. For a text model each INPUT is one text;
for a numeric model each INPUT is a JSON array of numbers (or an array of
such arrays). Without INPUT arguments, each line of stdin is one input.`,
		Example: `  shoal predict seed.safetensors 今天天气很好 今天心情很差
  shoal predict mlp.safetensors "[0,0,0.5,...]"
  shoal predict sms.safetensors --json < messages.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := artifact.Load(args[0])
			if err != nil {
				return err
			}
			raw := args[1:]
			if len(raw) == 0 {
				if raw, err = readLines(cmd.InOrStdin()); err != nil {
					return err
				}
				if len(raw) == 0 {
					return fmt.Errorf("no inputs: give them as arguments or one per line on stdin")
				}
			}
			var inputs []any
			var texts []string
			for i, s := range raw {
				if a.Kind == artifact.KindText {
					inputs = append(inputs, s)
					texts = append(texts, s)
					continue
				}
				vs, err := parseVectors(s)
				if err != nil {
					return fmt.Errorf("input %d: %w", i+1, err)
				}
				inputs = append(inputs, vs...)
			}
			preds, err := a.Predict(inputs)
			if err != nil {
				return err
			}
			out := predictOutput{Model: args[0]}
			for i, p := range preds {
				po := predictionOut{Label: p.Label, Class: p.Class, Probability: round(p.Probability, 6),
					Probabilities: make(map[string]float64, len(p.Probabilities))}
				if texts != nil {
					po.Input = texts[i]
					po.Truncated = truncated(a.Encoder, texts[i])
				}
				for j, q := range p.Probabilities {
					po.Probabilities[a.Labels[j]] = round(q, 6)
				}
				out.Predictions = append(out.Predictions, po)
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				return writeJSONLine(w, out)
			}
			cut := 0
			for i, p := range preds {
				line := fmt.Sprintf("%s\t%.4f\t(%s)", p.Label, p.Probability, topProbabilities(a.Labels, p.Probabilities, 5))
				if texts != nil {
					line += "\t" + texts[i]
				}
				if out.Predictions[i].Truncated {
					cut++
				}
				fmt.Fprintln(w, line)
			}
			if cut > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %d of %d texts were longer than the %d ids the model reads; their ends were not seen\n", cut, len(preds), a.Encoder.MaxLen)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&jsonOut, "json", false, "print all predictions as one JSON object")
	c.ValidArgsFunction = modelFileCompletion
	return c
}

// readLines returns the non-empty lines of r.
func readLines(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxStdinLine)
	var out []string
	for sc.Scan() {
		if s := strings.TrimRight(sc.Text(), "\r"); strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stdin: %w", err)
	}
	return out, nil
}

// parseVectors reads a JSON array of numbers, or an array of such arrays.
func parseVectors(s string) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("want a JSON array of numbers: %w", err)
	}
	// dec.More alone would let a stray ']' or '}' after the array through.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("want one JSON array, found more after it")
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("want a non-empty JSON array of numbers")
	}
	if _, nested := arr[0].([]any); !nested {
		return []any{arr}, nil
	}
	for i, e := range arr {
		if _, ok := e.([]any); !ok {
			return nil, fmt.Errorf("element %d is not an array like the first", i+1)
		}
	}
	return arr, nil
}

// topProbabilities formats the k most probable classes, most probable first.
func topProbabilities(labels []string, probs []float64, k int) string {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	var parts []string
	for _, i := range idx[:min(k, len(idx))] {
		parts = append(parts, fmt.Sprintf("%s %.4f", labels[i], probs[i]))
	}
	return strings.Join(parts, ", ")
}

// truncated reports whether text gives more ids than enc's model reads.
func truncated(enc *text.Encoder, s string) bool {
	return enc != nil && enc.FeatureCount(len(enc.Tokenizer.Tokens(s))) > enc.MaxLen
}
