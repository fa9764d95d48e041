// Package tui is the Bubble Tea operator console (`shoal tui`, and `shoal
// up` on a terminal). It talks to a node only through the control API
// client, behind the Node interface, so it can be tested against a fake
// node.
//
// Screens, one file each: Peers (this node's header, the peer table, a
// peer's detail, deny), Jobs (progress of every job, a job's detail with
// loss and accuracy charts and one row per member, the job form, cancel),
// Models (this node's models and what peers serve; label, remove, pull),
// Query (pick a model, type an input or pick an MNIST test image, the
// answer and its route, the session's history) and Log (the node's log
// with a level filter). One KeyMap (keys.go) drives the help bar, the `?`
// overlay and docs/keys.md. Actions that change the mesh ask first
// (dialog.go); their outcome is a note above the help bar.
//
// Data flow: Init connects (subscribes to events, then reads self, peers,
// jobs and models). Events reach Update through waitEvent, a command that
// waits for the next event and returns it as a message; Update applies it
// and asks for the next one, so no goroutine but Bubble Tea's touches the
// model, and Bubble Tea's renderer caps redraws however fast events come.
// When the stream ends or a connect fails, a banner shows it and a retry
// is scheduled with doubling back-off; a reconnect resumes the stream after
// the last event id seen and refills every screen from the API (a job's
// history too). Messages carry the connection's generation, so a late
// message from an earlier connection is dropped.
//
// Golden files of each screen's View are in testdata (`go test ./tui
// -update` rewrites them and docs/keys.md).
package tui
