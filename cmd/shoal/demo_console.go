package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/tui"
)

// runConsole opens the operator console on node 0 while the job runs, and
// follows the job in the background (models checked, query routed) exactly
// as headless does. When the console is quit while the job still trains,
// the job is abandoned and no summary is returned; either way the caller
// stops every node.
func (d *demoRun) runConsole(ctx context.Context) (*demoSummary, error) {
	type outcome struct {
		sum *demoSummary
		err error
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan outcome, 1)
	d.ui.setQuiet(true) // the console owns the terminal
	go func() {
		sum, err := d.finish(pctx, false)
		done <- outcome{sum, err}
	}()
	cerr := tui.Run(ctx, d.net.Client(0), demoConsoleOptions(d))
	d.ui.setQuiet(false)
	select {
	case o := <-done:
		if cerr != nil {
			return nil, fmt.Errorf("console: %w", cerr)
		}
		return o.sum, o.err
	default:
	}
	// A job that has ended on node 0 is only being checked and queried:
	// worth the few seconds left. One still training is abandoned.
	if j, err := d.net.Client(0).Job(ctx, d.spec.ID); err == nil && j.State == controlapi.JobDone && cerr == nil {
		d.ui.line("checking the models and querying, then stopping")
		o := <-done
		return o.sum, o.err
	}
	cancel()
	<-done
	if cerr != nil {
		return nil, fmt.Errorf("console: %w", cerr)
	}
	if ctx.Err() == nil {
		d.ui.line("console closed before the demo ended; stopping")
	}
	return nil, nil
}

// demoConsoleOptions is how the demo opens the console: on node 0, through
// its control API, logging to the demo's log file. It opens on Jobs, to
// watch the peers train, and moves to Query once the trained model is
// served, with MNIST's test images to pick for an image model. Quitting
// stops every node, which the quit question says.
func demoConsoleOptions(d *demoRun) tui.Options {
	o := tui.Options{
		Addr:       d.net.APIAddr(0),
		MeshID:     d.net.Node(0).MeshID(),
		Logger:     d.log.With("part", "console"),
		Refresh:    tuiRefresh,
		Poll:       tuiPoll,
		Start:      "jobs",
		QueryModel: d.spec.Name,
		QuitNote:   "quitting stops every node of the demo",
	}
	if !d.flags.text {
		for _, f := range []string{"t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"} {
			if p := filepath.Join(d.spec.Data, f); fileExists(p) {
				o.Images = p
				break
			}
		}
	}
	return o
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
