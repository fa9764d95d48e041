package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// Styles only add emphasis: every state is also spelled out in text, so
// the console reads the same without colour (NO_COLOR) or attributes.
var (
	styleTitle    = lipgloss.NewStyle().Bold(true)
	styleTab      = lipgloss.NewStyle().Bold(true).Reverse(true)
	styleHead     = lipgloss.NewStyle().Bold(true)
	styleSelected = lipgloss.NewStyle().Reverse(true)
	styleBanner   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("1"))
	styleFaint    = lipgloss.NewStyle().Faint(true)
)

func helpStyles() help.Styles {
	s := help.DefaultDarkStyles()
	s.ShortKey = lipgloss.NewStyle().Bold(true)
	s.FullKey = lipgloss.NewStyle().Bold(true)
	s.ShortDesc, s.FullDesc = lipgloss.NewStyle(), lipgloss.NewStyle()
	s.ShortSeparator = styleFaint
	s.FullSeparator = styleFaint
	s.Ellipsis = styleFaint
	return s
}

// View draws the console; it always fills the window exactly.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "shoal · " + m.screen.String()
	return v
}

func (m Model) topLines() []string {
	lines := append([]string{m.tabsLine()}, m.headerLines()...)
	if b := m.banner(); b != "" {
		lines = append(lines, styleBanner.Render(fit(b, m.width)))
	}
	return lines
}

func (m Model) bottomLines() []string {
	var lines []string
	l := m.lists[m.screen]
	if d := m.dialogLines(); d != nil {
		return d
	}
	if m.note != "" {
		lines = append(lines, fit(m.note, m.width))
	}
	if l.filtering {
		lines = append(lines, fit("/"+l.filter+"█  (enter keeps, esc clears)", m.width))
	} else if l.filter != "" && l.open == "" {
		lines = append(lines, fit("filter: "+l.filter+"  (/ edits, esc clears)", m.width))
	}
	if m.confirmQuit != "" {
		return append(lines, styleBanner.Render(fit("? job "+m.confirmQuit+" that this node submitted is still running: quit anyway? y/n", m.width)),
			fit("  "+m.quitNote(), m.width))
	}
	h := m.help
	h.SetWidth(m.width)
	keys := m.keys.shortHelp(m.screen)
	if m.form != nil {
		keys = []key.Binding{m.keys.FormNext, m.keys.FormSubmit, m.keys.FormEsc}
	}
	return append(lines, h.ShortHelpView(keys))
}

// tableRows is how many table rows fit under the column titles.
func (m Model) tableRows() int {
	return max(1, m.height-len(m.topLines())-len(m.bottomLines())-1)
}

func (m Model) render() string {
	top, bottom := m.topLines(), m.bottomLines()
	bodyH := max(0, m.height-len(top)-len(bottom))
	var body []string
	switch {
	case m.showHelp:
		body = m.helpOverlay(bodyH)
	case !m.everUp:
		body = []string{"", "  connecting to the node" + m.addrSuffix() + "…"}
	case m.screen == screenPeers && m.lists[screenPeers].open != "":
		body = m.peerDetail(m.lists[screenPeers].open)
	case m.screen == screenPeers:
		body = m.peersTable(bodyH)
	case m.form != nil:
		body = m.formLines()
	case m.screen == screenJobs && m.lists[screenJobs].open != "":
		body = m.jobDetail(m.lists[screenJobs].open, bodyH)
	case m.screen == screenJobs:
		body = m.jobsTable(bodyH)
	case m.screen == screenModels:
		body = m.modelsTable(bodyH)
	case m.screen == screenQuery:
		body = m.queryView(bodyH)
	default:
		body = m.logView(bodyH)
	}
	if len(body) > bodyH {
		body = body[:bodyH]
	}
	for len(body) < bodyH {
		body = append(body, "")
	}
	lines := slices.Concat(top, body, bottom)
	for i, ln := range lines {
		if ansi.StringWidth(ln) > m.width {
			lines[i] = ansi.Truncate(ln, m.width, "…")
		}
	}
	return strings.Join(lines, "\n")
}

func (m Model) addrSuffix() string {
	if m.opt.Addr == "" {
		return ""
	}
	return " at " + m.opt.Addr
}

func (m Model) tabsLine() string {
	parts := []string{styleTitle.Render("shoal")}
	for s := range numScreens {
		label := fmt.Sprintf("%d %s", s+1, s)
		if s == m.screen {
			parts = append(parts, styleTab.Render("["+label+"]"))
		} else {
			parts = append(parts, label)
		}
	}
	left := strings.Join(parts, "  ")
	state := "connected"
	if !m.connected {
		state = "DISCONNECTED"
	}
	gap := m.width - ansi.StringWidth(left) - len(state)
	if gap < 1 {
		return left
	}
	return left + strings.Repeat(" ", gap) + state
}

// headerLines show this node: name, id, mesh, peers up, and the first
// listen address (what another machine needs to join).
func (m Model) headerLines() []string {
	if !m.everUp {
		return []string{styleFaint.Render("node" + m.addrSuffix()), ""}
	}
	up, total := 0, len(m.peers)
	for _, p := range m.peers {
		if p.Alive {
			up++
		}
	}
	addr := "-"
	if len(m.self.Addrs) > 0 {
		addr = m.self.Addrs[0]
	}
	lines := []string{fmt.Sprintf("node %s  %s  mesh %s  peers up %d/%d", styleHead.Render(orDash(m.self.Name)), shortID(m.self.ID), orDash(m.meshID()), up, total)}
	// The join address is what another machine types: never cut it, wrap it.
	join := "join " + addr
	for m.width > 0 && ansi.StringWidth(join) > m.width {
		lines = append(lines, join[:m.width])
		join = join[m.width:]
	}
	return append(lines, join)
}

func (m Model) quitNote() string {
	if m.opt.QuitNote != "" {
		return "(" + m.opt.QuitNote + ")"
	}
	if m.opt.QuitStopsNode {
		return "(quitting stops this node too; the other members go on without it)"
	}
	return "(the job goes on without the console)"
}

// meshID is the node's own word for its mesh, else the option's.
func (m Model) meshID() string {
	if m.self.MeshID != "" {
		return m.self.MeshID
	}
	return m.opt.MeshID
}

func (m Model) banner() string {
	if m.connected || (m.lastErr == nil && !m.everUp) {
		return ""
	}
	what := "connection to the node" + m.addrSuffix() + " lost"
	if !m.everUp {
		what = "cannot reach the node" + m.addrSuffix()
	}
	return fmt.Sprintf("! %s; retry %d in %s: %v", what, m.attempt, m.backoff, m.lastErr)
}

var peerCols = []column{
	{title: "NAME", min: 7, flex: 2},
	{title: "ID", min: 9},
	{title: "ROLE", min: 4},
	{title: "STATE", min: 5},
	{title: "ADDRESSES", min: 18, flex: 4},
	{title: "RTT", min: 6, right: true},
	{title: "LOAD", min: 4, right: true},
	{title: "MODELS", min: 6, flex: 3},
	{title: "JOBS", min: 4, right: true},
	{title: "SEEN", min: 4, right: true},
}

func (m Model) table(cols []column, rows [][]string, l list, height int) []string {
	ws := layout(cols, m.width)
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.title
	}
	out := []string{styleHead.Render(renderRow("", titles, cols, ws))}
	end := min(len(rows), l.offset+max(1, height-1))
	for i := l.offset; i < end; i++ {
		if i == l.cursor {
			out = append(out, styleSelected.Render(fit(renderRow("›", rows[i], cols, ws), m.width)))
		} else {
			out = append(out, renderRow("", rows[i], cols, ws))
		}
	}
	return out
}

func state(alive bool) string {
	if alive {
		return "up"
	}
	return "down"
}

func (m Model) peersTable(height int) []string {
	ps := m.visiblePeers()
	if len(ps) == 0 {
		if m.lists[screenPeers].filter != "" {
			return []string{"", "  no peer matches the filter"}
		}
		return []string{"", "  no peers yet: start `shoal up` on another machine with the same key"}
	}
	now := m.opt.Now()
	rows := make([][]string, len(ps))
	for i, p := range ps {
		rows[i] = []string{orDash(p.Name), shortID(p.ID), orDash(p.Role), state(p.Alive), firstAddr(p.Addrs, compactAddr),
			fmtRTT(p.RTT), fmtFloat(p.Load, 2), fmtList(p.Models), strconv.Itoa(len(p.Jobs)), fmtAge(p.LastSeen, now)}
	}
	return m.table(peerCols, rows, m.lists[screenPeers], height)
}

func (m Model) peerDetail(id string) []string {
	i := slices.IndexFunc(m.peers, func(p controlapi.Peer) bool { return p.ID == id })
	if i < 0 {
		return []string{"", "  peer " + shortID(id) + " is no longer known to the node (esc goes back)"}
	}
	p := m.peers[i]
	now := m.opt.Now()
	out := []string{
		styleHead.Render("Peer " + orDash(p.Name)),
		kv("id", p.ID),
		kv("state", state(p.Alive)),
		kv("role", orDash(p.Role)),
		kv("version", orDash(p.Version)),
		kv("cores", strconv.Itoa(p.Cores)),
		kv("memory", fmtBytes(p.MemBytes)),
		kv("load", fmtFloat(p.Load, 2)),
		kv("rtt", fmtRTT(p.RTT)),
		kv("last seen", fmtAgo(p.LastSeen, now)),
		kv("models", fmtList(p.Models)),
		kv("jobs", fmtList(p.Jobs)),
		kv("addresses", strconv.Itoa(len(p.Addrs))),
	}
	for _, a := range p.Addrs {
		out = append(out, "    "+a)
	}
	return out
}

func kv(k, v string) string { return fmt.Sprintf("  %-12s %s", k, v) }

var jobCols = []column{
	{title: "JOB", min: 12, flex: 2},
	{title: "STATE", min: 9},
	{title: "PROGRESS", min: 12, flex: 3},
	{title: "EPOCH", min: 5, right: true},
	{title: "STEP", min: 9, right: true},
	{title: "LOSS", min: 6, right: true},
	{title: "ACC", min: 6, right: true},
	{title: "PEERS", min: 5, right: true},
}

func jobName(j controlapi.Job) string {
	id := j.ID
	if len(id) > 8 {
		id = id[:8]
	}
	if j.Name == "" {
		return id
	}
	return j.Name + " " + id
}

func (m Model) jobsTable(height int) []string {
	js := m.visibleJobs()
	if len(js) == 0 {
		if m.lists[screenJobs].filter != "" {
			return []string{"", "  no job matches the filter"}
		}
		return []string{"", "  no jobs yet: n starts one (or `shoal job submit`)"}
	}
	ws := layout(jobCols, m.width)
	rows := make([][]string, len(js))
	pending := 0
	for i, j := range js {
		progress := progressBar(j.Step, j.Steps, ws[2])
		switch {
		case j.State == controlapi.JobPending:
			// A pending job has no progress yet: say what it waits for.
			pending++
			progress = "answer a/x" + expiresIn(j.Expires, m.opt.Now())
		case len(j.Refusals) > 0 && !controlapi.JobEnded(j.State):
			progress = fmt.Sprintf("%d peer(s) refused; ", len(j.Refusals)) + progress
		}
		rows[i] = []string{jobName(j), orDash(j.State), progress, epoch(j.Epoch, j.Epochs),
			steps(j.Step, j.Steps), fmtFloat(j.Loss, 4), fmtPercent(j.Accuracy), strconv.Itoa(j.Members)}
	}
	if pending == 0 {
		return m.table(jobCols, rows, m.lists[screenJobs], height)
	}
	banner := styleBanner.Render(fmt.Sprintf("  %d job(s) wait for your answer (shoal up --jobs ask): a accepts, x declines", pending))
	return append([]string{banner}, m.table(jobCols, rows, m.lists[screenJobs], height-1)...)
}

// expiresIn says how long a pending job still waits for an answer.
func expiresIn(at, now time.Time) string {
	if at.IsZero() {
		return ""
	}
	d := at.Sub(now).Round(time.Second)
	if d <= 0 {
		return " (expiring)"
	}
	return " (" + d.String() + " left)"
}

func epoch(e, n int) string {
	if n <= 0 {
		return strconv.Itoa(e)
	}
	return fmt.Sprintf("%d/%d", e, n)
}

func steps(s, n int) string {
	if n <= 0 {
		return strconv.Itoa(s)
	}
	return fmt.Sprintf("%d/%d", s, n)
}

var memberCols = []column{
	{title: "PEER", min: 9, flex: 2},
	{title: "STATE", min: 9},
	{title: "EPOCH", min: 5, right: true},
	{title: "STEP", min: 9, right: true},
	{title: "LOSS", min: 6, right: true},
	{title: "ACC", min: 6, right: true},
	{title: "SENT", min: 8, right: true},
	{title: "RECV", min: 8, right: true},
	{title: "SHARDS", min: 6, right: true},
}

func (m Model) peerName(id string) string {
	if id == m.self.ID {
		return orDash(m.self.Name) + " (this node)"
	}
	for _, p := range m.peers {
		if p.ID == id && p.Name != "" {
			return p.Name
		}
	}
	return shortID(id)
}

func (m Model) jobDetail(id string, height int) []string {
	i := slices.IndexFunc(m.jobs, func(j controlapi.Job) bool { return j.ID == id })
	if i < 0 {
		return []string{"", "  job " + id + " is no longer known to the node (esc goes back)"}
	}
	j := m.jobs[i]
	ws := layout(jobCols, m.width)
	out := []string{
		styleHead.Render("Job " + jobName(j)),
		kv("id", j.ID),
		kv("model", orDash(j.Model)) + "   " + fmt.Sprintf("submitted by %s", m.peerName(j.Submitter)),
		kv("state", orDash(j.State)) + "   " + progressBar(j.Step, j.Steps, max(14, ws[2])),
		kv("epoch", epoch(j.Epoch, j.Epochs)) + fmt.Sprintf("   step %s   rounds %d", steps(j.Step, j.Steps), j.Rounds),
		kv("loss", fmtFloat(j.Loss, 4)) + "   accuracy " + fmtPercent(j.Accuracy) + "   consensus distance " + fmtFloat(j.ConsensusDistance, 4),
	}
	if j.Error != "" {
		out = append(out, kv("error", j.Error))
	}
	if j.State == controlapi.JobPending {
		out = append(out, styleBanner.Render(kv("pending", "waits for this node's operator: a accepts, x declines"+expiresIn(j.Expires, m.opt.Now()))))
	}
	const shownRefusals = 5 // the member table needs the room more
	for i, r := range j.Refusals {
		if i == shownRefusals {
			out = append(out, styleFaint.Render(fmt.Sprintf("  … %d more refusals (shoal job status %s)", len(j.Refusals)-i, j.ID)))
			break
		}
		out = append(out, kv("refused", fmt.Sprintf("by %s (%s): %s", m.peerName(r.Peer), r.Reason, r.Detail)))
	}
	if j.Result != nil {
		out = append(out, kv("model out", fmt.Sprintf("%s v%d (%s)", j.Result.ModelName, j.Result.ModelVersion, fmtBytes(j.Result.ModelBytes))))
	}
	// The charts take what the member rows leave (blank, title, column
	// titles, one row each).
	if ch := m.jobCharts(j.ID, height-len(out)-1-(3+1+len(j.Peers))); len(ch) > 0 {
		out = append(out, "")
		out = append(out, ch...)
	}
	out = append(out, "", styleHead.Render(fmt.Sprintf("Members (%d)", max(j.Members, len(j.Peers)+1))))
	members := append([]controlapi.JobStatus{{
		Peer: m.self.ID, State: j.State, Epoch: j.Epoch, Step: j.Step, Steps: j.Steps, Loss: j.Loss,
		Accuracy: j.Accuracy, BytesSent: j.BytesSent, BytesRecv: j.BytesRecv, ShardsHeld: j.ShardsHeld,
	}}, j.Peers...)
	rows := make([][]string, len(members))
	for i, s := range members {
		rows[i] = []string{m.peerName(s.Peer), orDash(s.State), strconv.Itoa(s.Epoch), steps(s.Step, s.Steps),
			fmtFloat(s.Loss, 4), fmtPercent(s.Accuracy), fmtBytes(s.BytesSent), fmtBytes(s.BytesRecv), shardCell(s.ShardsHeld, j.Shards)}
	}
	mw := layout(memberCols, m.width)
	titles := make([]string, len(memberCols))
	for i, c := range memberCols {
		titles[i] = c.title
	}
	out = append(out, styleHead.Render(renderRow("", titles, memberCols, mw)))
	for _, r := range rows {
		out = append(out, renderRow("", r, memberCols, mw))
	}
	if len(out) > height && height > 0 {
		out = append(out[:height-1], styleFaint.Render(fmt.Sprintf("  … %d more members", len(out)-height+1)))
	}
	return out
}

// jobCharts draws the job's loss and accuracy over its steps, side by
// side when the window is wide enough, in at most room lines.
func (m Model) jobCharts(id string, room int) []string {
	h := min(10, room)
	if h < 5 {
		return nil
	}
	pts := m.history[id]
	loss := func(p controlapi.JobPoint) float64 { return p.Loss }
	acc := func(p controlapi.JobPoint) float64 { return p.Accuracy }
	w := (m.width - 3) / 2
	return sideBySide(lineChart("loss", pts, loss, w, h, false), lineChart("hold-out accuracy", pts, acc, w, h, true), w)
}

// helpOverlay lists every key, grouped, in as many columns as fit (each
// group goes to the shortest column so far); a window too short for all
// of it scrolls with j/k.
func (m Model) helpOverlay(height int) []string {
	const colW = 33
	per := max(1, m.width/colW)
	cols := make([][]string, per)
	for _, g := range m.keys.groups() {
		c := 0
		for i := range cols {
			if len(cols[i]) < len(cols[c]) {
				c = i
			}
		}
		cols[c] = append(cols[c], styleHead.Render(g.title))
		for _, b := range g.keys {
			cols[c] = append(cols[c], fmt.Sprintf("  %-9s %s", b.Help().Key, b.Help().Desc))
		}
		cols[c] = append(cols[c], "")
	}
	rows := 0
	for _, c := range cols {
		rows = max(rows, len(c))
	}
	var lines []string
	for r := range rows {
		var b strings.Builder
		for _, c := range cols {
			cell := ""
			if r < len(c) {
				cell = c[r]
			}
			b.WriteString(fit(cell, colW))
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
	}
	out := []string{styleTitle.Render("Keys") + "  (? or esc closes; docs/keys.md has them too)"}
	room := max(1, height-1)
	if len(lines) <= room {
		return append(out, lines...)
	}
	off := max(0, min(m.helpOffset, len(lines)-room+1))
	out = append(out, lines[off:off+room-1]...)
	return append(out, styleFaint.Render(fmt.Sprintf("  lines %d-%d of %d: j/k scroll", off+1, off+room-1, len(lines))))
}

// shardCell is a member's part of the shard map: the job's shards it
// holds, of how many ("-" for a job without shards).
func shardCell(held, total int) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", held, total)
}
