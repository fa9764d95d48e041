package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/qgemm"
	"github.com/shoalmesh/shoal/engine/train"
)

func init() { subcommands = append(subcommands, newQuantizeCmd) }

// quantizeOutput is the --json result of `shoal quantize`; fields may be
// added, never removed.
type quantizeOutput struct {
	Model       string   `json:"model"`
	Out         string   `json:"out"`
	Scheme      string   `json:"scheme"`
	Activations string   `json:"activations"`
	Kernel      string   `json:"kernel"`
	SizeBefore  int64    `json:"size_before"`
	SizeAfter   int64    `json:"size_after"`
	SizeRatio   float64  `json:"size_ratio"`
	SHA256      string   `json:"sha256"`
	Data        string   `json:"data,omitempty"`
	AccBefore   *float64 `json:"test_accuracy_before,omitempty"`
	AccAfter    *float64 `json:"test_accuracy_after,omitempty"`
	Samples     int      `json:"test_samples,omitempty"`
}

// calibSamples bounds the samples a static calibration runs: the maxima
// settle after a few hundred, and a whole dataset would only cost time.
const calibSamples = 2000

func newQuantizeCmd() *cobra.Command {
	var (
		int8Flag   bool
		out, calib string
		dataPath   string
		holdout    float64
		jsonOut    bool
	)
	c := &cobra.Command{
		Use:   "quantize MODEL --int8 -o OUT",
		Short: "Write an int8 copy of a float model (post-training quantization)",
		Long: `Quantize a float model file to int8: weights symmetric per output channel
(dense and LSTM columns, conv filters, embedding rows), biases float32, and
activations quantized as each layer runs, per row (dynamic) or, with
--calib, with fixed scales measured on that data (static). The scheme is
recorded in the file's metadata, so eval, predict, inspect, serve and the
mesh take the int8 file like a float one. The file is written atomically
and checked by loading it back (content hash included).

With --data, the test accuracy of both models is printed.`,
		Example: `  shoal quantize mlp.safetensors --int8 -o mlp-int8.safetensors --data "$(make -s mnist)"
  shoal quantize sms.safetensors --int8 -o sms-int8.safetensors --data sms_spam.tsv --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !int8Flag {
				return errors.New("say which form: --int8 (the only one so far)")
			}
			if out == "" {
				return errors.New("--out (-o) is required")
			}
			if out == args[0] {
				return errors.New("--out must differ from MODEL: the float model is kept")
			}
			a, err := artifact.Load(args[0])
			if err != nil {
				return err
			}
			if a.Model.Quantized() {
				return fmt.Errorf("%s is already int8", args[0])
			}
			var opt nn.QuantizeOptions
			if calib != "" {
				d, err := train.LoadEvalData(calib, a.Kind, 0, a.Labels, a.Encoder)
				if err != nil {
					return fmt.Errorf("--calib: %w", err)
				}
				n := min(d.N, calibSamples)
				opt.ActMax = a.Model.Clone().Calibrate(d.X[:n*a.Model.InputSize()], n, 256)
			}
			q, err := a.Quantize(opt)
			if err != nil {
				return err
			}
			sum, err := q.Save(out)
			if err != nil {
				return err
			}
			back, err := artifact.Load(out) // the hash and every tensor checked again
			if err != nil {
				return fmt.Errorf("the written file does not load: %w", err)
			}
			res := quantizeOutput{Model: args[0], Out: out, Kernel: qgemm.Kernel(), SHA256: sum}
			if qs, ok := back.Quantization(); ok {
				res.Scheme, res.Activations = qs.Scheme, qs.Activations
			}
			if res.SizeBefore, err = fileSize(args[0]); err != nil {
				return err
			}
			if res.SizeAfter, err = fileSize(out); err != nil {
				return err
			}
			res.SizeRatio = round(float64(res.SizeAfter)/float64(res.SizeBefore), 4)
			if dataPath != "" {
				d, err := train.LoadEvalData(dataPath, a.Kind, holdout, a.Labels, a.Encoder)
				if err != nil {
					return err
				}
				before, err := train.Evaluate(a.Model, d, 0)
				if err != nil {
					return err
				}
				after, err := train.Evaluate(back.Model, d, 0)
				if err != nil {
					return err
				}
				b, f := round(before.Accuracy, 5), round(after.Accuracy, 5)
				res.Data, res.AccBefore, res.AccAfter, res.Samples = dataPath, &b, &f, after.Samples
			}
			if jsonOut {
				return writeJSONLine(cmd.OutOrStdout(), res)
			}
			printQuantize(cmd.OutOrStdout(), res)
			return nil
		},
	}
	fl := c.Flags()
	fl.BoolVar(&int8Flag, "int8", false, "quantize to int8 (symmetric, per output channel)")
	fl.StringVarP(&out, "out", "o", "", "the int8 model file to write (required)")
	fl.StringVar(&calib, "calib", "", "data to calibrate static activation scales on (MNIST folder or text file); default dynamic")
	fl.StringVar(&dataPath, "data", "", "test data: print the accuracy before and after")
	fl.Float64Var(&holdout, "holdout", train.DefaultHoldout, "fraction of a text file's last rows to test on")
	fl.BoolVar(&jsonOut, "json", false, "print the result as one JSON object")
	_ = c.MarkFlagFilename("data")
	_ = c.MarkFlagFilename("calib")
	c.ValidArgsFunction = modelFileCompletion
	return c
}

func printQuantize(w io.Writer, r quantizeOutput) {
	fmt.Fprintf(w, "wrote %s (%s, activations %s, kernel %s)\n", r.Out, r.Scheme, r.Activations, r.Kernel)
	fmt.Fprintf(w, "size      %d -> %d bytes (%.3f×)\n", r.SizeBefore, r.SizeAfter, r.SizeRatio)
	if r.AccBefore != nil {
		fmt.Fprintf(w, "accuracy  %.2f%% -> %.2f%% (%+.2f points, %d samples)\n", 100**r.AccBefore, 100**r.AccAfter, 100*(*r.AccAfter-*r.AccBefore), r.Samples)
	}
	fmt.Fprintf(w, "sha256    %s\n", r.SHA256)
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
