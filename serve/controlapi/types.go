package controlapi

import "time"

// API paths, versioned so a later incompatible API can live beside this one.
const (
	PathSelf   = "/api/v1/self"
	PathPeers  = "/api/v1/peers"
	PathEvents = "/api/v1/events"
)

// DefaultAddr is where `shoal up` serves the control API unless told otherwise.
const DefaultAddr = "127.0.0.1:7070"

// Event types carried on PathEvents. Later features add more (jobs, models);
// clients must ignore types they do not know.
const (
	EventPeerJoined = "peer_joined"
	EventPeerLeft   = "peer_left"
	// EventPeerUpdated carries a live peer whose RTT, load or served
	// models changed; the server sends at most one per peer per period.
	EventPeerUpdated = "peer_updated"
	// EventStreamReset opens a stream resumed with a Last-Event-ID the
	// server can no longer replay from (too old, or from before a restart):
	// the client missed events and should read the state again.
	EventStreamReset = "stream_reset"
)

// Peer describes one node of the mesh as the local node sees it.
//
// The JSON form is stable: fields are only ever added. Slices are encoded as
// [] rather than null by the server; RTT is in nanoseconds, as its name says.
type Peer struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Role     string   `json:"role"` // "full" or "edge"
	Version  string   `json:"version"`
	Cores    int      `json:"cores"`
	MemBytes uint64   `json:"mem_bytes"`
	Load     float64  `json:"load"`
	Models   []string `json:"models"`
	// Served are the models the peer answers queries for (loaded
	// versions, int8 or float, queue depth), as its heartbeats announce.
	Served   []ServedModel `json:"served,omitempty"`
	Jobs     []string      `json:"jobs"`
	Addrs    []string      `json:"addrs"`
	LastSeen time.Time     `json:"last_seen,omitzero"` // zero for the node itself
	RTT      time.Duration `json:"rtt_ns"`
	Alive    bool          `json:"alive"`
	// MeshID is the short hash of the mesh key every topic lives under;
	// set on PathSelf only.
	MeshID string `json:"mesh_id,omitempty"`
}

// ServedModel is one model a peer serves.
type ServedModel struct {
	Name string `json:"name"`
	// Versions are the loaded versions, newest first.
	Versions []int `json:"versions"`
	// Int8 says the newest loaded version has int8 weights.
	Int8 bool `json:"int8,omitempty"`
	// Queue is the requests waiting for it on that peer.
	Queue int `json:"queue,omitempty"`
}

// PeersResponse is the body of GET PathPeers. It is an object rather than a
// bare array so fields (paging, a mesh id) can be added later.
type PeersResponse struct {
	Peers []Peer `json:"peers"`
}

// Event is one notification on PathEvents. Peer is set for peer_* events,
// Job for job_* events (JobEvent is defined in jobs.go).
type Event struct {
	// ID is the stream's id of the event (the SSE "id:" line, not part of
	// the JSON): give the last one seen to EventsSince to resume.
	ID   string    `json:"-"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Peer *Peer     `json:"peer,omitempty"`
	Job  *JobEvent `json:"job,omitempty"`
	// Reason says why a peer left: "timeout", "disconnected", "leaving",
	// "denied" (set by the mesh; empty when it did not say).
	Reason string `json:"reason,omitempty"`
}

// ErrorResponse is the body of every error answer: {"error": "..."}.
type ErrorResponse struct {
	Error string `json:"error"`
}
