package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/prune"
	"github.com/shoalmesh/shoal/engine/train"
)

func init() { subcommands = append(subcommands, newPruneCmd) }

// pruneOutput is the --json result of `shoal prune`; fields may be added,
// never removed.
type pruneOutput struct {
	Model     string   `json:"model"`
	Out       string   `json:"out"`
	Sparsity  float64  `json:"sparsity"`
	Pruned    int      `json:"pruned"`
	Params    int      `json:"params"`
	Epochs    int      `json:"fine_tune_epochs,omitempty"`
	AccBefore *float64 `json:"test_accuracy_before,omitempty"`
	AccAfter  *float64 `json:"test_accuracy_after,omitempty"`
	SHA256    string   `json:"sha256"`
}

func newPruneCmd() *cobra.Command {
	var (
		sparsity, holdout, lr float64
		out, dataPath         string
		epochs, batch         int
		jsonOut               bool
	)
	c := &cobra.Command{
		Use:   "prune MODEL --sparsity S -o OUT",
		Short: "Zero the smallest weights of a float model (magnitude pruning)",
		Long: `Prune a float model: in each weight tensor the fraction S of values with
the smallest magnitude becomes 0 (biases are kept). With --data the pruned
model is fine-tuned for --epochs on the training part of that data, the
pruned weights held at 0, and the test accuracy before and after printed.
Quantize the result to store it small.`,
		Example: `  shoal prune mlp.safetensors --sparsity 0.5 -o mlp-pruned.safetensors --data "$(make -s mnist)" --epochs 1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out (-o) is required")
			}
			a, err := artifact.Load(args[0])
			if err != nil {
				return err
			}
			res := pruneOutput{Model: args[0], Out: out, Sparsity: sparsity, Params: a.Model.NumParams()}
			var test *data.Dataset
			if dataPath != "" {
				if test, err = train.LoadEvalData(dataPath, a.Kind, holdout, a.Labels, a.Encoder); err != nil {
					return err
				}
				mt, err := train.Evaluate(a.Model, test, 0)
				if err != nil {
					return err
				}
				v := round(mt.Accuracy, 5)
				res.AccBefore = &v
			}
			mk, err := prune.Magnitude(a.Model, sparsity)
			if err != nil {
				return err
			}
			res.Pruned = mk.Pruned()
			if dataPath != "" && epochs > 0 {
				tr, err := trainPart(dataPath, a, holdout)
				if err != nil {
					return err
				}
				t, err := train.NewTrainer(a.Model, tr, train.Config{Epochs: epochs, BatchSize: batch, Seed: 1,
					Optimizer: nn.OptimizerConfig{Name: "adam", LR: lr}})
				if err != nil {
					return err
				}
				for e := 0; e < epochs; e++ {
					for s := 0; s < t.Steps(); s++ {
						t.Step(s)
						mk.Apply(a.Model.Params()) // pruned weights stay 0
					}
					t.Shuffle()
				}
				res.Epochs = epochs
			}
			if test != nil {
				mt, err := train.Evaluate(a.Model, test, 0)
				if err != nil {
					return err
				}
				v := round(mt.Accuracy, 5)
				res.AccAfter = &v
			}
			if a.Provenance.Extra == nil {
				a.Provenance.Extra = map[string]string{}
			}
			a.Provenance.Extra["pruned_sparsity"] = fmt.Sprint(sparsity)
			if res.SHA256, err = a.Save(out); err != nil {
				return err
			}
			if _, err := artifact.Load(out); err != nil {
				return fmt.Errorf("the written file does not load: %w", err)
			}
			if jsonOut {
				return writeJSONLine(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: %d of %d parameters zero (sparsity %.2f of each weight tensor)\n", out, res.Pruned, res.Params, sparsity)
			if res.AccBefore != nil {
				fmt.Fprintf(w, "accuracy  %.2f%% -> %.2f%%", 100**res.AccBefore, 100**res.AccAfter)
				if res.Epochs > 0 {
					fmt.Fprintf(w, " (after %d fine-tuning epochs)", res.Epochs)
				}
				fmt.Fprintln(w)
			}
			return nil
		},
	}
	fl := c.Flags()
	fl.Float64Var(&sparsity, "sparsity", 0.5, "fraction of each weight tensor to zero, in [0, 1)")
	fl.StringVarP(&out, "out", "o", "", "the pruned model file to write (required)")
	fl.StringVar(&dataPath, "data", "", "data to test on and, with --epochs, fine-tune on")
	fl.Float64Var(&holdout, "holdout", train.DefaultHoldout, "fraction of a text file's last rows kept for testing")
	fl.IntVar(&epochs, "epochs", 1, "fine-tuning epochs with --data (0: none)")
	fl.IntVar(&batch, "batch", 64, "fine-tuning batch size")
	fl.Float64Var(&lr, "lr", 1e-4, "fine-tuning learning rate (Adam)")
	fl.BoolVar(&jsonOut, "json", false, "print the result as one JSON object")
	c.ValidArgsFunction = modelFileCompletion
	return c
}

// trainPart loads the training part of dataPath for a's model: the MNIST
// training files, or a text file's rows before the hold-out, encoded with
// the model's own tokenizer.
func trainPart(dataPath string, a *artifact.Artifact, holdout float64) (*data.Dataset, error) {
	st, err := os.Stat(dataPath)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if st.IsDir() {
		tr, _, err := data.LoadMNIST(dataPath)
		return tr, err
	}
	rows, err := data.ReadTextRows(dataPath)
	if err != nil {
		return nil, err
	}
	n := data.SplitHoldout(len(rows), holdout)
	if n == 0 {
		return nil, fmt.Errorf("%s: no training rows before the hold-out", dataPath)
	}
	return train.EncodeTexts(rows[:n], a.Labels, a.Encoder)
}
