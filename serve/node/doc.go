// Package node assembles one whole shoal node from its parts: the mesh host
// (package mesh), the model store (engine/modelstore), the job manager
// (mesh/job), the loaded models (serve/registry), the model server
// (serve/modelserver: TF Serving REST and KServe v2 on 127.0.0.1:8501) and
// the control API listener (package serve). `shoal up`, `shoal testnet` (every peer of a test
// mesh is such a node, with its control API on a loopback port of its own)
// and `shoal demo` build their nodes here, so a node is wired one way only.
//
// Why serve/node: the assembly imports everything from engine to serve, so
// it sits at the top of the serve layer, below tui, testnet and cmd which use
// it (engine ← mesh ← serve ← serve/node ← testnet/cmd); the top-level
// folders are fixed, and a node is what serve serves.
//
// Start brings the parts up in dependency order (mesh, store, jobs, loaded
// models, model server, control API); Close takes them down in the reverse
// one: the model server and the control API first (no new requests, event
// streams end, requests in flight finish), then the jobs (they checkpoint
// and leave their topics while the host still runs), the loaded models,
// and last the mesh host (a last "leaving" heartbeat, then the host
// closes). One Prometheus registry of the node's own gathers the model
// server's, the registry's and the libp2p host's metrics.
package node
