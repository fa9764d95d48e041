package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// handleKey routes a key: an open dialog (quit question, confirmation,
// prompt, chooser, job form) or a typed filter or query input takes every
// key; otherwise the general keys act, then the screen's own.
func (m Model) handleKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := &m.keys
	if m.confirmQuit != "" {
		switch {
		case key.Matches(msg, k.Yes, k.Quit):
			m.stop()
			return m, tea.Quit
		case key.Matches(msg, k.No):
			m.confirmQuit = ""
		}
		return m, nil
	}
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	switch {
	case m.confirm != nil:
		return m.confirmKey(msg)
	case m.prompt != nil:
		return m.promptKey(msg)
	case m.chooser != nil:
		return m.chooserKey(msg)
	case m.form != nil:
		return m.formKey(msg)
	case m.screen == screenQuery && m.query.typing:
		return m.queryTypingKey(msg)
	}
	l := &m.lists[m.screen]
	if l.filtering {
		switch msg.String() {
		case "enter":
			l.filtering = false
		case "esc":
			l.filtering, l.filter = false, ""
		case "backspace":
			if r := []rune(l.filter); len(r) > 0 {
				l.filter = string(r[:len(r)-1])
			}
		case "ctrl+u":
			l.filter = ""
		default:
			if msg.Text != "" {
				l.filter += msg.Text
			}
		}
		l.cursor, l.offset = 0, 0
		if m.screen == screenLog {
			m.logs.follow = true
		}
		m.clampAll()
		return m, nil
	}
	if m.showHelp {
		switch {
		case key.Matches(msg, k.Help, k.Back):
			m.showHelp, m.helpOffset = false, 0
		case key.Matches(msg, k.Down):
			m.helpOffset++
		case key.Matches(msg, k.Up):
			m.helpOffset = max(0, m.helpOffset-1)
		case key.Matches(msg, k.Quit):
			return m.quit()
		}
		return m, nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.showHelp = true
		return m, nil
	case key.Matches(msg, k.NextScreen):
		return m.switchTo((m.screen + 1) % numScreens)
	case key.Matches(msg, k.PrevScreen):
		return m.switchTo((m.screen + numScreens - 1) % numScreens)
	case key.Matches(msg, k.Peers):
		return m.switchTo(screenPeers)
	case key.Matches(msg, k.Jobs):
		return m.switchTo(screenJobs)
	case key.Matches(msg, k.Models):
		return m.switchTo(screenModels)
	case key.Matches(msg, k.Query):
		return m.switchTo(screenQuery)
	case key.Matches(msg, k.Log):
		return m.switchTo(screenLog)
	}
	var cmd tea.Cmd
	switch m.screen {
	case screenPeers:
		m, cmd = m.peersKey(msg)
	case screenJobs:
		m, cmd = m.jobsKey(msg)
	case screenModels:
		m, cmd = m.modelsKey(msg)
	case screenQuery:
		m, cmd = m.queryKey(msg)
	case screenLog:
		m, cmd = m.logKey(msg)
	}
	m.clampAll()
	return m, cmd
}

// switchTo shows screen s; the Log screen reads the log at once.
func (m Model) switchTo(s screen) (tea.Model, tea.Cmd) {
	m.screen = s
	m.clampAll()
	if s == screenLog {
		return m, m.fetchLogs()
	}
	return m, nil
}

// listKey handles the keys every list shares: filter, moving, open and
// back. It reports whether it used the key.
func (m *Model) listKey(msg tea.KeyPressMsg) bool {
	k := &m.keys
	l := &m.lists[m.screen]
	switch {
	case key.Matches(msg, k.Back):
		if l.open != "" {
			l.open = ""
		} else {
			l.filter = ""
		}
	case l.open != "":
		return false // a detail view has no rows to move through
	case key.Matches(msg, k.Filter):
		l.filtering = true
	case key.Matches(msg, k.Up):
		l.cursor--
	case key.Matches(msg, k.Down):
		l.cursor++
	case key.Matches(msg, k.Top):
		l.cursor = 0
	case key.Matches(msg, k.Bottom):
		l.cursor = m.rowCount(m.screen) - 1
	default:
		return false
	}
	return true
}

// updateInputs passes what is not a key (a paste, a cursor message) to
// the text input that has the focus.
func (m Model) updateInputs(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch {
	case m.prompt != nil:
		m.prompt.input, cmd = m.prompt.input.Update(msg)
	case m.form != nil:
		f := m.form
		f.fields[f.focus].input, cmd = f.fields[f.focus].input.Update(msg)
	case m.query.typing:
		m.query.input, cmd = m.query.input.Update(msg)
	}
	return m, cmd
}
