package tui

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/charmbracelet/x/ansi"

	"github.com/shoalmesh/shoal/engine/jsonx"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// maxQueryHistory bounds the session's query history.
const maxQueryHistory = 50

// queryState is the Query screen: the model is the list's cursor, the
// input a text (or a JSON array of numbers), or a picked test image.
type queryState struct {
	input   textinput.Model
	typing  bool
	image   int // index into Model.images; -1 none picked
	pending bool
	history []queryEntry // newest first
	// classes names the classes of each model as answers showed them
	// (an answer names only its top class).
	classes map[string]map[int]string
}

// queryEntry is one query of this session and its answer.
type queryEntry struct {
	at       time.Time
	model    string
	input    string // as shown
	label    string
	class    int
	prob     float64
	probs    []float64
	servedBy string // "" this node
	version  int
	latency  time.Duration
	err      string
}

func newQueryState() queryState {
	ti := newInput(`a text, or a JSON array such as [0.1, 0.2]`)
	return queryState{input: ti, image: -1, classes: map[string]map[int]string{}}
}

// predictMsg carries a query's answer.
type predictMsg struct{ entry queryEntry }

// queryModels are the models a query can go to: this node's and those a
// live peer serves.
func (m Model) queryModels() []string {
	var out []string
	for _, r := range m.modelRows() {
		if len(r.servers) > 0 || (r.local != nil && len(r.local.Versions) > 0) {
			out = append(out, r.name)
		}
	}
	return out
}

// queryKey: j/k pick the model, i types an input, ←/→ pick a test image,
// enter sends (or starts typing when there is nothing to send).
func (m Model) queryKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	k := &m.keys
	q := &m.query
	switch {
	case key.Matches(msg, k.Up, k.Down, k.Top, k.Bottom):
		m.listKey(msg)
	case key.Matches(msg, k.Type):
		q.typing, q.image = true, -1
		q.input.Focus()
	case key.Matches(msg, k.PrevImage, k.NextImage) && len(m.images) > 0:
		step := 1
		if key.Matches(msg, k.PrevImage) {
			step = -1
		}
		if q.image < 0 {
			q.image = 0
		} else {
			q.image = (q.image + step + len(m.images)) % len(m.images)
		}
		q.input.SetValue("")
	case key.Matches(msg, k.Send):
		if q.image < 0 && strings.TrimSpace(q.input.Value()) == "" {
			q.typing = true
			q.input.Focus()
			return m, nil
		}
		return m.send()
	case key.Matches(msg, k.Back):
		q.image = -1
	}
	return m, nil
}

func (m Model) queryTypingKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	q := &m.query
	switch msg.String() {
	case "esc":
		q.typing = false
		q.input.Blur()
		return m, nil
	case "enter":
		q.typing = false
		q.input.Blur()
		return m.send()
	}
	var cmd tea.Cmd
	q.input, cmd = q.input.Update(msg)
	return m, cmd
}

// send queries the selected model with the typed input or the picked
// image.
func (m Model) send() (Model, tea.Cmd) {
	models := m.queryModels()
	c := m.lists[screenQuery].cursor
	if c >= len(models) {
		m.note = "! no model to query yet"
		return m, nil
	}
	name := models[c]
	var raw json.RawMessage
	shown := ""
	if m.query.image >= 0 && m.query.image < len(m.images) {
		img := m.images[m.query.image]
		b, _ := json.Marshal(img.pixels)
		raw = b
		shown = fmt.Sprintf("test image #%d", m.query.image+1)
		if img.label >= 0 {
			shown += fmt.Sprintf(" (a %d)", img.label)
		}
	} else {
		in := strings.TrimSpace(m.query.input.Value())
		var err error
		if raw, err = queryInput(in); err != nil {
			m.note = "! " + err.Error()
			return m, nil
		}
		shown = in
	}
	m.query.pending, m.note = true, ""
	node, ctx := m.node, m.ctx
	now := m.opt.Now
	return m, func() tea.Msg {
		start := now()
		res, err := node.PredictModel(ctx, name, controlapi.PredictRequest{Inputs: []json.RawMessage{raw}})
		e := queryEntry{at: start, model: name, input: shown, latency: now().Sub(start)}
		switch {
		case err != nil:
			e.err = err.Error()
		case len(res.Predictions) != 1:
			e.err = fmt.Sprintf("%d predictions for one input", len(res.Predictions))
		default:
			p := res.Predictions[0]
			e.label, e.class, e.prob, e.probs = p.Label, p.Class, p.Probability, p.Probabilities
			e.servedBy, e.version = res.ServedBy, res.Version
		}
		return predictMsg{e}
	}
}

// maxQueryInput bounds a typed input (the node takes 1 MiB per request).
const maxQueryInput = 256 << 10

// queryInput turns what was typed into one predict input: a JSON array
// of numbers stays numbers, anything else is a text.
func queryInput(in string) (json.RawMessage, error) {
	if in == "" {
		return nil, fmt.Errorf("nothing to send: type an input first (i)")
	}
	if len(in) > maxQueryInput {
		return nil, fmt.Errorf("input of %d bytes: at most %d", len(in), maxQueryInput)
	}
	if strings.HasPrefix(in, "[") {
		var xs []any
		if err := jsonx.Decode([]byte(in), &xs); err != nil {
			return nil, fmt.Errorf("input looks like a JSON array but is not one: %v", err)
		}
		return json.RawMessage(in), nil
	}
	b, _ := json.Marshal(in)
	return b, nil
}

func (m Model) predicted(msg predictMsg) Model {
	m.query.pending = false
	h := append([]queryEntry{msg.entry}, m.query.history...)
	if len(h) > maxQueryHistory {
		h = h[:maxQueryHistory]
	}
	m.query.history = h
	if e := msg.entry; e.err == "" && e.label != "" {
		cs := map[int]string{}
		for k, v := range m.query.classes[e.model] {
			cs[k] = v
		}
		cs[e.class] = e.label
		classes := map[string]map[int]string{}
		for k, v := range m.query.classes {
			classes[k] = v
		}
		classes[e.model] = cs
		m.query.classes = classes
	}
	if msg.entry.err != "" {
		m.note = "! query " + msg.entry.model + ": " + msg.entry.err
	} else {
		m.note = ""
	}
	return m
}

// servedByName names the peer that answered.
func (m Model) servedByName(id string) string {
	if id == "" || id == m.self.ID {
		return orDash(m.self.Name) + " (this node)"
	}
	for _, p := range m.peers {
		if p.ID == id && p.Name != "" {
			return p.Name + " (" + shortID(id) + ")"
		}
	}
	return shortID(id)
}

func (m Model) queryView(height int) []string {
	models := m.queryModels()
	if len(models) == 0 {
		return []string{"", "  no model to query yet: train one (n on the Jobs screen) or pull one (p on Models)"}
	}
	q := m.query
	l := m.lists[screenQuery]
	listW := 24
	for _, n := range models {
		listW = max(listW, min(32, ansi.StringWidth(n)+4))
	}
	left := []string{styleHead.Render("MODEL")}
	for i, n := range models {
		if i == l.cursor {
			left = append(left, styleSelected.Render(fit("› "+n, listW-1)))
		} else {
			left = append(left, fit("  "+n, listW-1))
		}
	}
	rw := max(20, m.width-listW-1)
	var right []string
	inLine := "input  "
	switch {
	case q.typing:
		inLine += "> " + q.input.View() + "   (enter sends, esc stops typing)"
	case q.image >= 0 && q.image < len(m.images):
		inLine += fmt.Sprintf("test image #%d of %d", q.image+1, len(m.images))
		if lb := m.images[q.image].label; lb >= 0 {
			inLine += fmt.Sprintf(", labelled %d", lb)
		}
		inLine += "   (enter sends, ←/→ another)"
	case q.input.Value() != "":
		inLine += q.input.Value() + "   (enter sends, i edits)"
	default:
		inLine += styleFaint.Render("i types a text or a JSON array")
		if len(m.images) > 0 {
			inLine += styleFaint.Render(", ←/→ picks a test image")
		}
	}
	right = append(right, inLine)
	if q.image >= 0 && q.image < len(m.images) {
		for _, ln := range renderImage(m.images[q.image]) {
			right = append(right, "       "+ln)
		}
	}
	right = append(right, "")
	switch {
	case q.pending:
		right = append(right, "asking "+models[min(l.cursor, len(models)-1)]+"…")
	case len(q.history) > 0 && q.history[0].err == "":
		e := q.history[0]
		right = append(right,
			styleHead.Render("label "+e.label)+fmt.Sprintf("  probability %s", fmtPercent(e.prob)),
			fmt.Sprintf("route  %s v%d → served by %s in %s", e.model, e.version, m.servedByName(e.servedBy), fmtLatency(e.latency)))
		right = append(right, probBars(e, q.classes[e.model], rw, 5)...)
	case len(q.history) > 0:
		right = append(right, styleBanner.Render("! "+q.history[0].err))
	}
	rows := max(len(left), len(right))
	out := make([]string, 0, rows+8)
	for i := range rows {
		a, b := "", ""
		if i < len(left) {
			a = left[i]
		}
		if i < len(right) {
			b = right[i]
		}
		out = append(out, fit(a, listW)+b)
	}
	if len(q.history) > 0 && len(out)+3 <= height {
		out = append(out, "", styleHead.Render(fmt.Sprintf("History (%d this session)", len(q.history))))
		for _, e := range q.history {
			if len(out) >= height {
				break
			}
			out = append(out, "  "+historyLine(e, m))
		}
	}
	return out
}

func historyLine(e queryEntry, m Model) string {
	in := e.input
	if ansi.StringWidth(in) > 28 {
		in = ansi.Truncate(in, 28, "…")
	}
	if e.err != "" {
		return fmt.Sprintf("%s %s %q → failed: %s", e.at.Format("15:04:05"), e.model, in, e.err)
	}
	return fmt.Sprintf("%s %s %q → %s %s by %s, %s", e.at.Format("15:04:05"), e.model, in, e.label,
		fmtPercent(e.prob), m.servedByName(e.servedBy), fmtLatency(e.latency))
}

// probBars draws the top n probabilities as bars with their figures (the
// bars only repeat what the numbers say).
func probBars(e queryEntry, names map[int]string, width, n int) []string {
	type cls struct {
		i int
		p float64
	}
	var cs []cls
	for i, p := range e.probs {
		cs = append(cs, cls{i, p})
	}
	for i := 1; i < len(cs); i++ { // insertion sort: a handful of classes
		for j := i; j > 0 && cs[j].p > cs[j-1].p; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
	// Answers name only their top class; when those names are the class
	// numbers (MNIST's "0".."9"), the other classes are named the same way.
	digits := len(names) > 0
	for c, n := range names {
		digits = digits && n == strconv.Itoa(c)
	}
	barW := max(5, min(30, width-22))
	var out []string
	for _, c := range cs[:min(n, len(cs))] {
		name := "class " + strconv.Itoa(c.i)
		if s, ok := names[c.i]; ok {
			name = s
		} else if digits {
			name = strconv.Itoa(c.i)
		}
		cells := int(c.p*float64(barW) + 0.5)
		out = append(out, fmt.Sprintf("  %-9s %s%s %5.1f%%", fitName(name, 9), strings.Repeat("█", cells), strings.Repeat("·", barW-cells), 100*c.p))
	}
	return out
}

func fitName(s string, w int) string {
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

func fmtLatency(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmtRTT(d)
}

// followQueryModel moves to the Query screen with Options.QueryModel
// picked, once, as soon as that model can be queried.
func (m *Model) followQueryModel() {
	if m.opt.QueryModel == "" || m.followedQuery {
		return
	}
	i := slices.Index(m.queryModels(), m.opt.QueryModel)
	if i < 0 {
		return
	}
	m.followedQuery = true
	m.screen = screenQuery
	m.lists[screenQuery].cursor = i
	m.clampAll()
	m.note = "model " + m.opt.QueryModel + " is served: pick an input and press enter"
}
