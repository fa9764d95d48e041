package tui

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// peersKey: the list keys, enter opens a peer, d denies it (asking first).
func (m Model) peersKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if m.listKey(msg) {
		return m, nil
	}
	l := &m.lists[screenPeers]
	switch {
	case key.Matches(msg, m.keys.Open) && l.open == "":
		if id, ok := m.selectedID(); ok {
			l.open = id
		}
	case key.Matches(msg, m.keys.Deny):
		id := l.open
		if id == "" {
			id, _ = m.selectedID()
		}
		i := slices.IndexFunc(m.peers, func(p controlapi.Peer) bool { return p.ID == id })
		if i < 0 {
			return m, nil
		}
		p := m.peers[i]
		m.confirm = &confirmation{
			question: "deny peer " + orDash(p.Name) + " (" + shortID(p.ID) + ")?",
			detail:   "this node closes its connections and refuses it until this node restarts; other nodes still talk to it",
			run:      m.denyCmd(p),
		}
	}
	return m, nil
}

func (m Model) denyCmd(p controlapi.Peer) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		err := node.DenyPeer(ctx, p.ID)
		return actionMsg{gen: gen, ok: "denied peer " + orDash(p.Name), err: err, what: "deny " + orDash(p.Name), peers: true}
	}
}
