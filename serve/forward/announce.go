package forward

import (
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/inference"
)

// maxAnnouncedVersions is how many loaded versions of a model a heartbeat
// names (the newest); mesh refuses more than 16.
const maxAnnouncedVersions = 16

// queueDepther is what a Model may offer to report its queue.
type queueDepther interface{ QueueDepth() int }

// Announce lists what local serves, for heartbeats (mesh.PresenceExtra's
// Served): each model with a loaded version, its AVAILABLE versions newest
// first, whether the newest is int8, and its queue: the mesh requests srv
// is answering for it (srv may be nil) plus the model's own queue where
// the Model reports one (a QueueDepth() int method). It must stay cheap:
// it runs once a heartbeat.
func Announce(local inference.Catalog, srv *Server) []mesh.ServedModel {
	var out []mesh.ServedModel
	for _, name := range local.Names() {
		if len(name) > 64 {
			continue
		}
		vs, err := local.Versions(name)
		if err != nil {
			continue
		}
		var loaded []int
		for _, v := range vs {
			if v.State == inference.StateAvailable && v.Version > 0 && len(loaded) < maxAnnouncedVersions {
				loaded = append(loaded, v.Version)
			}
		}
		if len(loaded) == 0 {
			continue
		}
		sm := mesh.ServedModel{Name: name, Versions: loaded}
		if m, err := local.Lookup(name, loaded[0], ""); err == nil {
			sm.Int8 = m.Signature().Quantized
			if q, ok := m.(queueDepther); ok {
				sm.Queue = max(q.QueueDepth(), 0)
			}
		}
		if srv != nil {
			sm.Queue += srv.InFlight(name)
		}
		out = append(out, sm)
	}
	return out
}
