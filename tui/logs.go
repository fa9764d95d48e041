package tui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// maxLogLines bounds the lines the Log screen keeps.
const maxLogLines = 5000

// logLevels are the Log screen's filters, in the order v steps through.
var logLevels = []string{"all", "info", "warn", "error"}

// logState is the Log screen: the node's lines read so far (the list's
// cursor is the selected line; follow keeps it on the newest).
type logState struct {
	lines   []controlapi.LogLine
	level   int // index into logLevels
	follow  bool
	lastSeq uint64
	err     string
}

type (
	logTickMsg struct{}
	logsMsg    struct {
		gen   int
		lines []controlapi.LogLine
		err   error
	}
)

func (m Model) logTick() tea.Cmd {
	return tea.Tick(m.opt.LogPoll, func(time.Time) tea.Msg { return logTickMsg{} })
}

// fetchLogs reads the lines after the last one seen, while the Log screen
// shows (nil otherwise: the log has no events, and nobody looks).
func (m Model) fetchLogs() tea.Cmd {
	if m.screen != screenLog || !m.connected {
		return nil
	}
	node, ctx, gen, after := m.node, m.ctx, m.gen, m.logs.lastSeq
	return func() tea.Msg {
		lines, err := node.Logs(ctx, controlapi.LogQuery{After: after, N: controlapi.MaxLogLines})
		return logsMsg{gen, lines, err}
	}
}

func (m Model) gotLogs(msg logsMsg) Model {
	if msg.gen != m.gen {
		return m
	}
	if msg.err != nil {
		m.logs.err = msg.err.Error()
		return m
	}
	m.logs.err = ""
	if len(msg.lines) == 0 {
		return m
	}
	if msg.lines[0].Seq < m.logs.lastSeq {
		m.logs.lines = nil // the node restarted: its numbering did too
	}
	lines := append(append([]controlapi.LogLine(nil), m.logs.lines...), msg.lines...)
	if len(lines) > maxLogLines {
		lines = lines[len(lines)-maxLogLines:]
	}
	m.logs.lines = lines
	m.logs.lastSeq = lines[len(lines)-1].Seq
	if m.logs.follow {
		m.lists[screenLog].cursor = len(m.visibleLogs()) - 1
	}
	m.clampAll()
	return m
}

// visibleLogs are the lines the level and the filter let through.
func (m Model) visibleLogs() []controlapi.LogLine {
	f := strings.ToLower(m.lists[screenLog].filter)
	min := logRank(logLevels[m.logs.level])
	var out []controlapi.LogLine
	for _, l := range m.logs.lines {
		if logRank(l.Level) < min {
			continue
		}
		if f != "" && !strings.Contains(strings.ToLower(l.Msg+" "+l.Attrs), f) {
			continue
		}
		out = append(out, l)
	}
	return out
}

func logRank(level string) int {
	switch strings.ToLower(level) {
	case "all", "debug":
		return 0
	case "info":
		return 1
	case "warn":
		return 2
	case "error":
		return 3
	}
	return 1
}

// logKey: the list keys scroll, v steps the lowest level shown; the view
// follows new lines while the cursor is on the last one.
func (m Model) logKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if key.Matches(msg, m.keys.Level) {
		m.logs.level = (m.logs.level + 1) % len(logLevels)
		m.lists[screenLog].cursor = len(m.visibleLogs()) - 1
		m.logs.follow = true
		return m, nil
	}
	m.listKey(msg)
	n := len(m.visibleLogs())
	m.logs.follow = m.lists[screenLog].cursor >= n-1
	return m, nil
}

func (m Model) logView(height int) []string {
	lines := m.visibleLogs()
	head := "level ≥ " + logLevels[m.logs.level] + "  (v changes)"
	if m.logs.follow {
		head += "  following new lines"
	} else {
		head += "  paused: G follows again"
	}
	out := []string{styleFaint.Render(head)}
	if m.logs.err != "" {
		out = append(out, styleBanner.Render("! log: "+m.logs.err))
	}
	if len(lines) == 0 {
		return append(out, "", "  no log lines yet at this level")
	}
	l := m.lists[screenLog]
	rows := max(1, height-len(out))
	end := min(len(lines), l.offset+rows)
	for i := l.offset; i < end; i++ {
		ln := lines[i]
		text := ln.Time.Local().Format("15:04:05") + " " + fit(ln.Level, 5) + " " + ln.Msg
		if ln.Attrs != "" {
			text += "  " + ln.Attrs
		}
		if i == l.cursor {
			out = append(out, styleSelected.Render(fit("›"+text, m.width)))
		} else {
			out = append(out, " "+text)
		}
	}
	return out
}
