package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyMap is the console's one keymap: the help bar, the `?` overlay and
// docs/keys.md are all generated from it.
type KeyMap struct {
	Up, Down, Top, Bottom                   key.Binding
	NextScreen, PrevScreen                  key.Binding
	Peers, Jobs, Models, Query, Log         key.Binding
	Filter, Open, Back                      key.Binding
	Help, Quit                              key.Binding
	Yes, No                                 key.Binding
	Deny                                    key.Binding
	NewJob, CancelJob                       key.Binding
	AcceptJob, DeclineJob                   key.Binding
	Label, Remove, Pull, Serving, Quantize  key.Binding
	Type, Send, PrevImage, NextImage        key.Binding
	Level                                   key.Binding
	FormNext, FormPrev, FormSubmit, FormEsc key.Binding
}

// DefaultKeyMap returns the console's keys, modelled on k9s and lazygit.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:         key.NewBinding(key.WithKeys("k", "up"), key.WithHelp("k/↑", "up")),
		Down:       key.NewBinding(key.WithKeys("j", "down"), key.WithHelp("j/↓", "down")),
		Top:        key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g/home", "first row")),
		Bottom:     key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G/end", "last row")),
		NextScreen: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
		PrevScreen: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen")),
		Peers:      key.NewBinding(key.WithKeys("1"), key.WithHelp("1", "Peers screen")),
		Jobs:       key.NewBinding(key.WithKeys("2"), key.WithHelp("2", "Jobs screen")),
		Models:     key.NewBinding(key.WithKeys("3"), key.WithHelp("3", "Models screen")),
		Query:      key.NewBinding(key.WithKeys("4"), key.WithHelp("4", "Query screen")),
		Log:        key.NewBinding(key.WithKeys("5"), key.WithHelp("5", "Log screen")),
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Open:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "all keys")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes, when asked")),
		No:         key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n", "no, when asked")),
		Deny:       key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "deny peer")),
		NewJob:     key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new job")),
		CancelJob:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "cancel job")),
		AcceptJob:  key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "accept pending job")),
		DeclineJob: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "decline pending job")),
		Label:      key.NewBinding(key.WithKeys("l"), key.WithHelp("l", "label")),
		Remove:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "remove")),
		Serving:    key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "unload/serve")),
		Quantize:   key.NewBinding(key.WithKeys("z"), key.WithHelp("z", "int8 version")),
		Pull:       key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pull from peer")),
		Type:       key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "type input")),
		Send:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "send")),
		PrevImage:  key.NewBinding(key.WithKeys("left", "["), key.WithHelp("←/[", "prev image")),
		NextImage:  key.NewBinding(key.WithKeys("right", "]"), key.WithHelp("→/]", "next image")),
		Level:      key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "level")),
		FormNext:   key.NewBinding(key.WithKeys("down", "tab", "enter"), key.WithHelp("tab/↓", "next field")),
		FormPrev:   key.NewBinding(key.WithKeys("up", "shift+tab"), key.WithHelp("⇧tab/↑", "previous field")),
		FormSubmit: key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "submit")),
		FormEsc:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close the form")),
	}
}

// ShortHelp is the one-line help bar of the Peers screen (help.KeyMap);
// shortHelp gives each screen's.
func (k KeyMap) ShortHelp() []key.Binding { return k.shortHelp(screenPeers) }

// shortHelp is the help bar of screen s: the general keys and the
// screen's own actions.
func (k KeyMap) shortHelp(s screen) []key.Binding {
	switch s {
	case screenJobs:
		// a and x last: the banner of a pending job names them, and a
		// narrow bar keeps esc and q.
		return []key.Binding{k.Help, k.NextScreen, k.Open, k.NewJob, k.CancelJob, k.Back, k.Quit, k.AcceptJob, k.DeclineJob}
	case screenModels:
		return []key.Binding{k.Help, k.NextScreen, k.Label, k.Serving, k.Remove, k.Pull, k.Filter, k.Quit}
	case screenQuery:
		return []key.Binding{k.Help, k.NextScreen, k.Type, k.Send, k.PrevImage, k.NextImage, k.Quit}
	case screenLog:
		return []key.Binding{k.Help, k.NextScreen, k.Level, k.Filter, k.Bottom, k.Quit}
	}
	return []key.Binding{k.Help, k.NextScreen, k.Filter, k.Open, k.Deny, k.Back, k.Quit}
}

// FullHelp is the `?` overlay, one column per group (help.KeyMap).
func (k KeyMap) FullHelp() [][]key.Binding {
	groups := k.groups()
	out := make([][]key.Binding, len(groups))
	for i, g := range groups {
		out[i] = g.keys
	}
	return out
}

type keyGroup struct {
	title string
	keys  []key.Binding
}

func (k KeyMap) groups() []keyGroup {
	return []keyGroup{
		{"Move", []key.Binding{k.Up, k.Down, k.Top, k.Bottom}},
		{"Screens", []key.Binding{k.NextScreen, k.PrevScreen, k.Peers, k.Jobs, k.Models, k.Query, k.Log}},
		{"Lists", []key.Binding{k.Filter, k.Open, k.Back}},
		{"General", []key.Binding{k.Help, k.Quit, k.Yes, k.No}},
		{"Peers", []key.Binding{k.Deny}},
		{"Jobs", []key.Binding{k.NewJob, k.CancelJob, k.AcceptJob, k.DeclineJob}},
		{"Job form", []key.Binding{k.FormNext, k.FormPrev, k.FormSubmit, k.FormEsc}},
		{"Models", []key.Binding{k.Label, k.Serving, k.Quantize, k.Remove, k.Pull}},
		{"Query", []key.Binding{k.Type, k.Send, k.PrevImage, k.NextImage}},
		{"Log", []key.Binding{k.Level}},
	}
}

// KeysMarkdown renders the keymap as docs/keys.md.
func KeysMarkdown(k KeyMap) string {
	var b strings.Builder
	b.WriteString("# Keys of the operator console (`shoal tui`)\n\n")
	b.WriteString("<!-- Generated from tui/keys.go by `go test ./tui -update`; do not edit. -->\n\n")
	b.WriteString("Screens: `1` Peers, `2` Jobs, `3` Models, `4` Query, `5` Log. `enter` opens the selected row, `esc` goes\n" +
		"back to the list, and on a list clears its filter. While a filter is typed, keys go to the filter: `enter`\n" +
		"keeps it, `esc` clears it. Actions that change the mesh (deny, cancel, decline, remove) ask first: `y` does it,\n" +
		"`n` or `esc` does not. While the job form, a label prompt or a query input is open, keys go to it.\n" +
		"Quitting while a job this node submitted is still running asks first (the job goes on without the console).\n")
	for _, g := range k.groups() {
		fmt.Fprintf(&b, "\n## %s\n\n| keys | action |\n|---|---|\n", g.title)
		for _, kb := range g.keys {
			keys := make([]string, len(kb.Keys()))
			for i, s := range kb.Keys() {
				keys[i] = "`" + s + "`"
			}
			fmt.Fprintf(&b, "| %s | %s |\n", strings.Join(keys, ", "), kb.Help().Desc)
		}
	}
	return b.String()
}
