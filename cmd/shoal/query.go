package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/modelserver"
)

func init() { subcommands = append(subcommands, newQueryCmd) }

// queryOutput is the --json result of `shoal query`; fields may be added,
// never removed.
type queryOutput struct {
	Model string `json:"model"`
	// ServedBy is the peer id that answered, "local" for the node asked.
	ServedBy    string        `json:"served_by"`
	Predictions []queryAnswer `json:"predictions"`
}

type queryAnswer struct {
	Input         string    `json:"input,omitempty"` // text inputs only
	Label         string    `json:"label"`
	Class         int       `json:"class"`
	Probability   float64   `json:"probability"`
	Probabilities []float64 `json:"probabilities"`
}

// maxQueryAnswer bounds the answer read from the model server.
const maxQueryAnswer = 64 << 20

type queryFlags struct {
	version int
	label   string
	json    bool
	http    string
	token   string
	timeout time.Duration
}

func newQueryCmd() *cobra.Command {
	var f queryFlags
	c := &cobra.Command{
		Use:   "query NAME [INPUT...]",
		Short: "Ask the local node's model server for predictions, wherever in the mesh the model is",
		Long: `Sends the inputs to the model server of the node on this machine (TF Serving REST :predict on --http).
When the node does not hold model NAME it forwards the query over the mesh to a peer that does; the answer
says which peer served it ("local" when the node answered itself).

Each INPUT that is a JSON array of numbers (or an array of such arrays) is a numeric input; otherwise each
INPUT is one text. Without INPUT arguments, each line of stdin is one input.`,
		Example: `  shoal query days 今天天气很好 今天心情很差
  shoal query digits "[0,0,0.5,...]" --version 2 --json
  shoal query sms --label stable --http 127.0.0.1:8502 < messages.txt`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := args[1:]
			if len(raw) == 0 {
				var err error
				if raw, err = readLines(cmd.InOrStdin()); err != nil {
					return err
				}
				if len(raw) == 0 {
					return errors.New("no inputs: give them as arguments or one per line on stdin")
				}
			}
			out, err := runQuery(cmd.Context(), f, args[0], raw)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				return writeJSONLine(w, out)
			}
			for _, p := range out.Predictions {
				line := fmt.Sprintf("%s\t%.4f", p.Label, p.Probability)
				if p.Input != "" {
					line += "\t" + p.Input
				}
				fmt.Fprintln(w, line)
			}
			fmt.Fprintf(w, "served by %s\n", out.ServedBy)
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&f.version, "version", 0, "model version to ask for (default: the newest)")
	fl.StringVar(&f.label, "label", "", "version label to ask for, such as stable or canary")
	fl.BoolVar(&f.json, "json", false, "print the answer as one JSON object")
	fl.StringVar(&f.http, "http", modelserver.DefaultAddr, "the local node's model server address")
	fl.StringVar(&f.token, "http-token", "", "bearer token, when the model server was started with one")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the answer")
	return c
}

// queryInputs turns the INPUT arguments into :predict instances: JSON
// arrays are numeric inputs, anything else texts, never both in one query.
func queryInputs(raw []string) (instances []any, texts []string, err error) {
	numeric := 0
	for _, s := range raw {
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			numeric++
		}
	}
	if numeric > 0 && numeric < len(raw) {
		return nil, nil, errors.New("inputs mix JSON arrays (numeric inputs) and texts; give one kind per query")
	}
	for i, s := range raw {
		if numeric == 0 {
			instances = append(instances, s)
			texts = append(texts, s)
			continue
		}
		vs, err := parseVectors(s)
		if err != nil {
			return nil, nil, fmt.Errorf("input %d: %w", i+1, err)
		}
		instances = append(instances, vs...)
	}
	return instances, texts, nil
}

// queryURL is the :predict route for name at version or label.
func queryURL(addr, name string, version int, label string) (string, error) {
	if version != 0 && label != "" {
		return "", errors.New("give --version or --label, not both")
	}
	if version < 0 {
		return "", fmt.Errorf("--version %d: want a positive version", version)
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u := strings.TrimRight(base, "/") + "/v1/models/" + url.PathEscape(name)
	switch {
	case version > 0:
		u += "/versions/" + strconv.Itoa(version)
	case label != "":
		u += "/labels/" + url.PathEscape(label)
	}
	return u + ":predict", nil
}

func runQuery(ctx context.Context, f queryFlags, name string, raw []string) (queryOutput, error) {
	out := queryOutput{Model: name}
	instances, texts, err := queryInputs(raw)
	if err != nil {
		return out, err
	}
	u, err := queryURL(f.http, name, f.version, f.label)
	if err != nil {
		return out, err
	}
	body, err := json.Marshal(map[string]any{"instances": instances})
	if err != nil {
		return out, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/json")
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, fmt.Errorf("model server at %s: %w (is `shoal up` running? see --http)", f.http, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxQueryAnswer+1))
	if err != nil {
		return out, fmt.Errorf("model server at %s: %w", f.http, err)
	}
	if len(b) > maxQueryAnswer {
		return out, fmt.Errorf("model server at %s: answer over %d bytes", f.http, maxQueryAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return out, fmt.Errorf("%s: %s (HTTP %d)", name, e.Error, resp.StatusCode)
		}
		return out, fmt.Errorf("%s: HTTP %s", name, resp.Status)
	}
	var pr struct {
		Predictions []struct {
			Class         int       `json:"class"`
			Label         string    `json:"label"`
			Probability   float64   `json:"probability"`
			Probabilities []float64 `json:"probabilities"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(b, &pr); err != nil {
		return out, fmt.Errorf("model server at %s: unreadable answer: %w", f.http, err)
	}
	if len(pr.Predictions) != len(instances) {
		return out, fmt.Errorf("model server at %s: %d predictions for %d inputs", f.http, len(pr.Predictions), len(instances))
	}
	out.ServedBy = resp.Header.Get(inference.ServedByHeader)
	if out.ServedBy == "" {
		out.ServedBy = "local"
	}
	for i, p := range pr.Predictions {
		qa := queryAnswer{Label: p.Label, Class: p.Class, Probability: round(p.Probability, 6), Probabilities: p.Probabilities}
		for j := range qa.Probabilities {
			qa.Probabilities[j] = round(qa.Probabilities[j], 6)
		}
		if texts != nil {
			qa.Input = texts[i]
		}
		out.Predictions = append(out.Predictions, qa)
	}
	return out, nil
}
