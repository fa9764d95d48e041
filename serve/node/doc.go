// Package node assembles one whole shoal node from its parts: the mesh host
// (package mesh), the model store (engine/modelstore), the job manager
// (mesh/job) and the control API listener (package serve), and, as serving
// lands, the model server. `shoal up`, `shoal testnet` (every peer of a test
// mesh is such a node, with its control API on a loopback port of its own)
// and `shoal demo` build their nodes here, so a node is wired one way only.
//
// Why serve/node: the assembly imports everything from engine to serve, so
// it sits at the top of the serve layer, below tui, testnet and cmd which use
// it (engine ← mesh ← serve ← serve/node ← testnet/cmd); the top-level
// folders are fixed, and a node is what serve serves.
//
// Start brings the parts up in dependency order (mesh, models, jobs, API);
// Close takes them down in the reverse one: the control API first (no new
// requests, event streams end), then the jobs (they checkpoint and leave
// their topics while the host still runs), then the mesh host (a last
// "leaving" heartbeat, then the host closes).
package node
