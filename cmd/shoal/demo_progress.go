package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// demoProgress shows a job's progress on stderr: on a terminal one line
// redrawn in place (a bar, the phase, epoch, loss, accuracy, consensus
// distance), elsewhere a plain line at each phase and every tenth of the
// steps. Status lines (line) go above the bar. It is a few lines of our
// own rather than a progress library: the one well-kept candidate available
// here (schollz/progressbar) would add a module to go.mod for what is one
// redrawn line. Its methods are safe for concurrent use.
type demoProgress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	quiet  bool    // the console owns the terminal: say nothing
	bar    string  // the bar line now shown ("" for none)
	phase  string  // last phase printed in plain mode
	tenth  int     // last tenth of the steps printed in plain mode
	best   float64 // the largest fraction shown: the bar never goes back
	drawn  time.Time
	period time.Duration
}

func newDemoProgress(w io.Writer) *demoProgress {
	return &demoProgress{w: w, tty: isTerminal(w), tenth: -1, period: 100 * time.Millisecond}
}

// line prints one status line (above the bar, on a terminal).
func (p *demoProgress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet {
		return
	}
	if p.tty && p.bar != "" {
		fmt.Fprintf(p.w, "\r\x1b[K%s\n%s", s, p.bar)
		return
	}
	fmt.Fprintln(p.w, s)
}

// setQuiet stops (or restarts) all output, while the console runs.
func (p *demoProgress) setQuiet(q bool) {
	p.mu.Lock()
	p.quiet = q
	p.mu.Unlock()
}

// jobProgress is what a job's state on node 0 tells about the whole mesh:
// the members' mean share of their own steps (a member that has trained
// counts as whole, one not heard from yet as nothing), node 0's own phase
// and figures.
type jobProgress struct {
	phase             string
	frac              float64
	epoch, epochs     int
	members           int
	loss, accuracy    float64
	consensusDistance float64
}

func progressOf(j controlapi.Job) jobProgress {
	pr := jobProgress{phase: j.State, epoch: j.Epoch, epochs: j.Epochs,
		members: j.Members, loss: j.Loss, accuracy: j.Accuracy, consensusDistance: j.ConsensusDistance}
	share := func(state string, step, steps int) float64 {
		switch state {
		case controlapi.JobTrained, controlapi.JobConsensus, controlapi.JobDone:
			return 1
		}
		if steps <= 0 {
			return 0
		}
		return min(float64(step)/float64(steps), 1)
	}
	sum := share(j.State, j.Step, j.Steps)
	for _, st := range j.Peers {
		sum += share(st.State, st.Step, st.Steps)
	}
	if n := max(j.Members, 1+len(j.Peers)); n > 0 {
		pr.frac = sum / float64(n)
	}
	return pr
}

func (pr jobProgress) fraction() float64 { return pr.frac }

// describe is the figures after the bar or in a plain line.
func (pr jobProgress) describe() string {
	s := fmt.Sprintf("%-9s %3.0f%%  epoch %d/%d  %d peers", pr.phase, 100*pr.fraction(), pr.epoch, pr.epochs, pr.members)
	if pr.loss > 0 {
		s += fmt.Sprintf("  loss %.3f", pr.loss)
	}
	if pr.accuracy > 0 {
		s += fmt.Sprintf("  acc %.1f%%", 100*pr.accuracy)
	}
	if pr.consensusDistance > 0 && (pr.phase == controlapi.JobConsensus || pr.phase == controlapi.JobTrained) {
		s += fmt.Sprintf("  consensus %.1e", pr.consensusDistance)
	}
	return s
}

// job shows the job's new state.
func (p *demoProgress) job(j controlapi.Job) {
	pr := progressOf(j)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet {
		return
	}
	// A member heard from late adds its steps to the whole: hold the bar.
	p.best = max(p.best, pr.frac)
	pr.frac = p.best
	if p.tty {
		ended := controlapi.JobEnded(pr.phase)
		if !ended && time.Since(p.drawn) < p.period && pr.phase == p.phase {
			return
		}
		p.drawn, p.phase = time.Now(), pr.phase
		p.bar = progressBarLine(pr.fraction(), 30) + " " + pr.describe()
		fmt.Fprintf(p.w, "\r\x1b[K%s", p.bar)
		if ended {
			fmt.Fprintln(p.w)
			p.bar = ""
		}
		return
	}
	tenth := int(10 * pr.fraction())
	if pr.phase == p.phase && tenth == p.tenth {
		return
	}
	p.phase, p.tenth = pr.phase, tenth
	fmt.Fprintln(p.w, pr.describe())
}

// done ends the bar's line, if one is shown.
func (p *demoProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.bar != "" && !p.quiet {
		fmt.Fprintln(p.w)
	}
	p.bar = ""
}

// progressBarLine draws frac (0..1) as width cells in brackets, in eighths
// of a cell; it needs no colour to read.
func progressBarLine(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	eighths := int(frac * float64(width*8))
	full, part := eighths/8, eighths%8
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("█", full))
	if full < width {
		if part > 0 {
			b.WriteRune([]rune(" ▏▎▍▌▋▊▉")[part])
		} else {
			b.WriteByte(' ')
		}
		b.WriteString(strings.Repeat(" ", width-full-1))
	}
	b.WriteByte(']')
	return b.String()
}
