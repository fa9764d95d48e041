package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/train"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

// evalOutput is the --json result of `shoal eval`; fields may be added,
// never removed.
type evalOutput struct {
	Model        string  `json:"model"`
	Data         string  `json:"data"`
	TestAccuracy float64 `json:"test_accuracy"`
	TestLoss     float64 `json:"test_loss"`
	Samples      int     `json:"samples"`
	Seconds      float64 `json:"seconds"`
	// Classes and Confusion (rows: true class, columns: predicted) are
	// there for models of at most train.MaxReportClasses classes.
	Classes   []train.ClassScore `json:"classes,omitempty"`
	Confusion [][]int            `json:"confusion,omitempty"`
}

func newEvalCmd() *cobra.Command {
	var (
		data    string
		holdout float64
		batch   int
		jsonOut bool
	)
	c := &cobra.Command{
		Use:   "eval MODEL --data PATH",
		Short: "Measure a model's accuracy and loss on test data",
		Long: `Evaluate a model file on the test files of an MNIST folder, or on the
last --holdout rows of a labelled text file (all rows with --holdout 0),
encoded with the model's own tokenizer and vocabulary.`,
		Example: `  shoal eval mlp.safetensors --data "$(make -s mnist)"
  shoal eval lstm-text.safetensors --data sms_spam.tsv --holdout 0.2 --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if holdout < 0 || holdout >= 1 {
				return fmt.Errorf("--holdout must be in [0,1), got %g", holdout)
			}
			if batch < 0 {
				return fmt.Errorf("--batch must be positive, got %d", batch)
			}
			a, err := artifact.Load(args[0])
			if err != nil {
				return err
			}
			d, err := train.LoadEvalData(data, a.Kind, holdout, a.Labels, a.Encoder)
			if err != nil {
				return err
			}
			if len(d.Labels) > a.Classes() {
				return fmt.Errorf("--data has %d classes, the model %d", len(d.Labels), a.Classes())
			}
			start := time.Now()
			mt, err := train.Evaluate(a.Model, d, batch)
			if err != nil {
				return err
			}
			out := evalOutput{Model: args[0], Data: data, TestAccuracy: round(mt.Accuracy, 5), TestLoss: round(mt.Loss, 5),
				Samples: mt.Samples, Seconds: round(time.Since(start).Seconds(), 3), Classes: mt.Classes, Confusion: mt.Confusion}
			for i := range out.Classes {
				c := &out.Classes[i]
				c.Precision, c.Recall, c.F1 = round(c.Precision, 5), round(c.Recall, 5), round(c.F1, 5)
			}
			if jsonOut {
				return writeJSONLine(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "accuracy %.2f%%, loss %.4f (%d samples)\n", 100*mt.Accuracy, mt.Loss, mt.Samples)
			return writeClassReport(w, mt)
		},
	}
	fl := c.Flags()
	fl.StringVar(&data, "data", "", "MNIST folder or labelled text file (required)")
	fl.Float64Var(&holdout, "holdout", train.DefaultHoldout, "fraction of a text file's last rows to evaluate on (0: all rows)")
	fl.IntVar(&batch, "batch", train.DefaultEvalBatch, "samples per forward pass")
	fl.BoolVar(&jsonOut, "json", false, "print the result as one JSON object")
	_ = c.MarkFlagRequired("data")
	_ = c.MarkFlagFilename("data")
	c.ValidArgsFunction = modelFileCompletion
	return c
}

func modelFileCompletion(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"safetensors"}, cobra.ShellCompDirectiveFilterFileExt
}

// writeClassReport prints each class's precision, recall and F1, then the
// confusion matrix (rows: the true class, columns: the predicted one).
func writeClassReport(w io.Writer, mt train.Metrics) error {
	if len(mt.Classes) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "class\tprecision\trecall\tf1\tsupport\t")
	for _, c := range mt.Classes {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%d\t\n", c.Label, c.Precision, c.Recall, c.F1, c.Support)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nconfusion (rows: true class, columns: predicted)")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "\t"
	for _, c := range mt.Classes {
		head += c.Label + "\t"
	}
	fmt.Fprintln(tw, head)
	for i, row := range mt.Confusion {
		line := mt.Classes[i].Label + "\t"
		for _, v := range row {
			line += strconv.Itoa(v) + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
