package tui

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// modelRow is one line of the Models screen: a model this node holds, or
// one only peers serve (which `p` can pull).
type modelRow struct {
	name    string
	local   *controlapi.Model
	servers []controlapi.Peer // peers that serve it, this node first when it does
	int8    string            // "int8", "float" or "-" (unknown: nobody serves it)
}

// modelRows joins the node's models with what every peer serves.
func (m Model) modelRows() []modelRow {
	byName := map[string]*modelRow{}
	get := func(name string) *modelRow {
		r, ok := byName[name]
		if !ok {
			r = &modelRow{name: name, int8: "-"}
			byName[name] = r
		}
		return r
	}
	for i := range m.models {
		get(m.models[i].Name).local = &m.models[i]
	}
	for _, p := range append([]controlapi.Peer{m.self}, m.peers...) {
		if !p.Alive && p.ID != m.self.ID {
			continue
		}
		for _, s := range p.Served {
			r := get(s.Name)
			r.servers = append(r.servers, p)
			if r.int8 == "-" || p.ID == m.self.ID {
				r.int8 = "float"
				if s.Int8 {
					r.int8 = "int8"
				}
			}
		}
	}
	out := make([]modelRow, 0, len(byName))
	for _, r := range byName {
		// A version loaded here answers here, whether or not this node's
		// own heartbeat has said so yet.
		if r.local != nil && len(r.local.Versions) > 0 && strings.EqualFold(r.local.Versions[0].State, "AVAILABLE") &&
			!slices.ContainsFunc(r.servers, func(p controlapi.Peer) bool { return p.ID == m.self.ID }) {
			r.servers = append([]controlapi.Peer{m.self}, r.servers...)
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (m Model) visibleModels() []modelRow {
	rows := m.modelRows()
	f := strings.ToLower(m.lists[screenModels].filter)
	if f == "" {
		return rows
	}
	var out []modelRow
	for _, r := range rows {
		if strings.Contains(strings.ToLower(r.name+" "+m.serverNames(r)), f) {
			out = append(out, r)
		}
	}
	return out
}

func (m Model) selectedModel() (modelRow, bool) {
	rows := m.visibleModels()
	c := m.lists[screenModels].cursor
	if c < len(rows) {
		return rows[c], true
	}
	return modelRow{}, false
}

func (m Model) serverNames(r modelRow) string {
	var names []string
	for _, p := range r.servers {
		if p.ID == m.self.ID {
			names = append(names, "this node")
		} else {
			names = append(names, orDash(p.Name))
		}
	}
	return fmtList(names)
}

// modelsKey: the list keys, l labels the newest version, u unloads the
// model here (or serves it again), z publishes an int8 version of the
// newest, x removes it (asking first), p pulls it from a peer that serves
// it.
func (m Model) modelsKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if m.listKey(msg) {
		return m, nil
	}
	r, ok := m.selectedModel()
	if !ok {
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Label):
		if r.local == nil || len(r.local.Versions) == 0 {
			m.note = "! " + r.name + " has no version on this node to label (p pulls it)"
			return m, nil
		}
		v := r.local.Versions[0].Version
		name := r.name
		m = m.openPrompt(fmt.Sprintf("label for %s (name, or name@version; newest is v%d)", name, v), "stable", func(s string) tea.Cmd {
			return m.labelCmd(name, s, v)
		})
	case key.Matches(msg, m.keys.Serving):
		if r.local == nil || len(r.local.Versions) == 0 {
			m.note = "! " + r.name + " is not on this node"
			return m, nil
		}
		serve := r.local.Versions[0].Error == unloadedByOperator
		return m, m.servingCmd(r.name, serve)
	case key.Matches(msg, m.keys.Quantize):
		if r.local == nil || len(r.local.Versions) == 0 {
			m.note = "! " + r.name + " is not on this node (p pulls it)"
			return m, nil
		}
		return m, m.quantizeCmd(r.name)
	case key.Matches(msg, m.keys.Remove):
		if r.local == nil {
			m.note = "! " + r.name + " is not on this node"
			return m, nil
		}
		m.confirm = &confirmation{
			question: fmt.Sprintf("remove model %s (%d versions) from this node?", r.name, len(r.local.Versions)),
			detail:   "every version and label is deleted here; peers keep their copies",
			run:      m.removeCmd(r.name),
		}
	case key.Matches(msg, m.keys.Pull):
		var from []controlapi.Peer
		for _, p := range r.servers {
			if p.ID != m.self.ID {
				from = append(from, p)
			}
		}
		if len(from) == 0 {
			m.note = "! no other peer serves " + r.name
			return m, nil
		}
		opts := make([]string, len(from))
		for i, p := range from {
			opts[i] = fmt.Sprintf("%s (%s)", orDash(p.Name), shortID(p.ID))
		}
		name := r.name
		m.chooser = &chooser{title: "pull " + name + " from", options: opts, run: func(i int) tea.Cmd {
			return m.pullCmd(name, from[i])
		}}
	}
	return m, nil
}

func (m Model) labelCmd(name, input string, newest int) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	label, v := strings.TrimSpace(input), newest
	if l, ver, ok := strings.Cut(label, "@"); ok {
		label = l
		n, err := strconv.Atoi(strings.TrimPrefix(ver, "v"))
		if err != nil || n < 1 {
			return func() tea.Msg {
				return actionMsg{gen: gen, what: "label " + name, err: fmt.Errorf("version %q: want a number from 1", ver)}
			}
		}
		v = n
	}
	return func() tea.Msg {
		err := node.SetModelLabel(ctx, name, label, v)
		return actionMsg{gen: gen, ok: fmt.Sprintf("%s: label %s → v%d", name, label, v), err: err, what: "label " + name, models: true}
	}
}

// unloadedByOperator is the Error of a version the operator unloaded (the
// registry's StateUnloadedByOperator, as the control API reports it).
const unloadedByOperator = "unloaded by the operator"

func (m Model) servingCmd(name string, serve bool) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	ok, what := "unloaded "+name+" here (peers that serve it answer its queries)", "unload "+name
	if serve {
		ok, what = "serving "+name+" again", "serve "+name
	}
	return func() tea.Msg {
		err := node.SetModelServing(ctx, name, serve)
		return actionMsg{gen: gen, ok: ok, err: err, what: what, models: true}
	}
}

func (m Model) quantizeCmd(name string) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		res, err := node.QuantizeModel(ctx, name)
		ok := fmt.Sprintf("%s v%d: the int8 form of v%d (%s), served now", name, res.Version, res.FromVersion, fmtBytes(res.Bytes))
		return actionMsg{gen: gen, ok: ok, err: err, what: "quantize " + name, models: true}
	}
}

func (m Model) removeCmd(name string) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		err := node.RemoveModel(ctx, name, 0)
		return actionMsg{gen: gen, ok: "removed model " + name, err: err, what: "remove " + name, models: true}
	}
}

func (m Model) pullCmd(name string, from controlapi.Peer) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		res, err := node.PullModel(ctx, name, controlapi.PullRequest{Peer: from.ID})
		ok := fmt.Sprintf("pulled %s v%d from %s (%s)", name, res.Version, orDash(from.Name), fmtBytes(res.Bytes))
		return actionMsg{gen: gen, ok: ok, err: err, what: "pull " + name, models: true}
	}
}

var modelCols = []column{
	{title: "MODEL", min: 10, flex: 2},
	{title: "VERSIONS", min: 8, flex: 1},
	{title: "LABELS", min: 8, flex: 2},
	{title: "SIZE", min: 9, right: true},
	{title: "TYPE", min: 5},
	{title: "STATE", min: 9},
	{title: "SERVED BY", min: 10, flex: 3},
}

func (m Model) modelsTable(height int) []string {
	rows := m.visibleModels()
	if len(rows) == 0 {
		if m.lists[screenModels].filter != "" {
			return []string{"", "  no model matches the filter"}
		}
		return []string{"", "  no models yet: a finished job publishes one (n on the Jobs screen starts a job)"}
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		versions, labels, size, state := "-", "-", "-", "not here"
		if r.local != nil && len(r.local.Versions) > 0 {
			var vs []string
			for _, v := range r.local.Versions {
				vs = append(vs, "v"+strconv.Itoa(v.Version))
			}
			versions = strings.Join(vs, ",")
			size = fmtBytes(r.local.Versions[0].Bytes)
			state = strings.ToLower(orDash(r.local.Versions[0].State))
			var ls []string
			for l, v := range r.local.Labels {
				ls = append(ls, fmt.Sprintf("%s=v%d", l, v))
			}
			slices.Sort(ls)
			labels = fmtList(ls)
		}
		cells[i] = []string{r.name, versions, labels, size, r.int8, state, m.serverNames(r)}
	}
	return m.table(modelCols, cells, m.lists[screenModels], height)
}
