package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyMap is the console's one keymap: the help bar, the `?` overlay and
// docs/keys.md are all generated from it.
type KeyMap struct {
	Up, Down, Top, Bottom  key.Binding
	NextScreen, PrevScreen key.Binding
	Peers, Jobs            key.Binding
	Filter, Open, Back     key.Binding
	Help, Quit             key.Binding
	Yes, No                key.Binding
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
		Filter:     key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Open:       key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Help:       key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "all keys")),
		Quit:       key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes, when asked")),
		No:         key.NewBinding(key.WithKeys("n", "esc"), key.WithHelp("n", "no, when asked")),
	}
}

// ShortHelp is the one-line help bar (help.KeyMap).
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Help, k.NextScreen, k.Filter, k.Open, k.Back, k.Quit}
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
		{"Screens", []key.Binding{k.NextScreen, k.PrevScreen, k.Peers, k.Jobs}},
		{"Lists", []key.Binding{k.Filter, k.Open, k.Back}},
		{"General", []key.Binding{k.Help, k.Quit, k.Yes, k.No}},
	}
}

// KeysMarkdown renders the keymap as docs/keys.md.
func KeysMarkdown(k KeyMap) string {
	var b strings.Builder
	b.WriteString("# Keys of the operator console (`shoal tui`)\n\n")
	b.WriteString("<!-- Generated from tui/keys.go by `go test ./tui -update`; do not edit. -->\n\n")
	b.WriteString("Screens: `1` Peers, `2` Jobs. `enter` opens the selected row, `esc` goes back to the list, and on a list\n" +
		"clears its filter. While a filter is typed, keys go to the filter: `enter` keeps it, `esc` clears it.\n" +
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
