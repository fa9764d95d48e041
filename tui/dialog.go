package tui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// The console's small dialogs. Each takes every key while open and closes
// with esc; what it does on yes/enter is a command built when it opened.

// confirmation asks before an action that changes the mesh (deny, cancel,
// remove): y runs it, n or esc does not.
type confirmation struct {
	question string
	detail   string // what the action does, in a line
	run      tea.Cmd
}

func (m Model) confirmKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Yes):
		cmd := m.confirm.run
		m.confirm = nil
		return m, cmd
	case key.Matches(msg, m.keys.No):
		m.confirm = nil
		m.note = "nothing done"
	}
	return m, nil
}

// prompt reads one line (a label name): enter hands it to run.
type prompt struct {
	title string
	input textinput.Model
	run   func(string) tea.Cmd
}

func newInput(placeholder string) textinput.Model {
	ti := textinput.New()
	ti.Prompt = ""
	ti.Placeholder = placeholder
	ti.CharLimit = 4096
	s := ti.Styles()
	s.Cursor.Blink = false // no ticks: the view is the same until a key changes it
	ti.SetStyles(s)
	return ti
}

func (m Model) openPrompt(title, placeholder string, run func(string) tea.Cmd) Model {
	ti := newInput(placeholder)
	ti.Focus()
	m.prompt = &prompt{title: title, input: ti, run: run}
	return m
}

func (m Model) promptKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc":
		m.prompt = nil
		m.note = "nothing done"
		return m, nil
	case "enter":
		cmd := m.prompt.run(m.prompt.input.Value())
		m.prompt = nil
		return m, cmd
	}
	p := *m.prompt
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	m.prompt = &p
	return m, cmd
}

// chooser picks one of a few options (the peer to pull a model from).
type chooser struct {
	title   string
	options []string
	cursor  int
	run     func(int) tea.Cmd
}

func (m Model) chooserKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	c := *m.chooser
	switch {
	case key.Matches(msg, m.keys.Back):
		m.chooser = nil
		m.note = "nothing done"
		return m, nil
	case key.Matches(msg, m.keys.Open):
		m.chooser = nil
		return m, c.run(c.cursor)
	case key.Matches(msg, m.keys.Up):
		c.cursor = max(0, c.cursor-1)
	case key.Matches(msg, m.keys.Down):
		c.cursor = min(len(c.options)-1, c.cursor+1)
	}
	m.chooser = &c
	return m, nil
}

// dialogLines draws the open dialog, for the bottom of the screen.
func (m Model) dialogLines() []string {
	switch {
	case m.confirm != nil:
		out := []string{styleBanner.Render(fit("? "+m.confirm.question+" y/n", m.width))}
		if m.confirm.detail != "" {
			out = append(out, fit("  ("+m.confirm.detail+")", m.width))
		}
		return out
	case m.prompt != nil:
		return []string{fit(m.prompt.title+": "+m.prompt.input.View(), m.width), fit("  (enter sets it, esc closes)", m.width)}
	case m.chooser != nil:
		out := []string{styleHead.Render(fit(m.chooser.title+" (enter picks, esc closes)", m.width))}
		for i, o := range m.chooser.options {
			if i == m.chooser.cursor {
				out = append(out, styleSelected.Render(fit("› "+o, m.width)))
			} else {
				out = append(out, fit("  "+o, m.width))
			}
		}
		return out
	}
	return nil
}

// actionMsg reports how an action through the control API ended. The
// refresh flags say what to read again after a success.
type actionMsg struct {
	gen                 int
	ok                  string // the note on success
	err                 error
	what                string // names the action in the note on failure
	jobs, models, peers bool
}

func (m Model) actionDone(msg actionMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.note = "! " + msg.what + ": " + msg.err.Error()
		m.opt.Logger.Warn(msg.what, "err", msg.err)
		return m, nil
	}
	m.note = "✓ " + msg.ok
	m.opt.Logger.Info(msg.ok)
	if msg.gen != m.gen || !m.connected {
		return m, nil
	}
	var cmds []tea.Cmd
	if msg.jobs {
		cmds = append(cmds, m.fetchJobs())
	}
	if msg.models {
		cmds = append(cmds, m.fetchModels())
	}
	if msg.peers {
		cmds = append(cmds, m.fetchSnapshot())
	}
	return m, tea.Batch(cmds...)
}
