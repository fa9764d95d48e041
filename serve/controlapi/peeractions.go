package controlapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// PeerPath returns the path of a peer's route: PeerPath("12D3…", "deny").
func PeerPath(id string, parts ...string) string {
	p := PathPeers + "/" + url.PathEscape(id)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// DenyResponse answers POST PeerPath(id, "deny").
type DenyResponse struct {
	ID string `json:"id"`
}

// DenyPeer makes the node refuse peer id until it restarts: its
// connections close, dials either way are refused and it leaves the peer
// table (a peer_left event with reason "denied" follows). Only this node
// stops talking to it; the mesh key is unchanged, so to shut a peer out of
// the whole mesh, every node must deny it (or the key must change).
func (c *Client) DenyPeer(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("no peer id")
	}
	var out DenyResponse
	return c.sendJSON(ctx, http.MethodPost, PeerPath(id, "deny"), struct{}{}, &out, false)
}
