// Package tui is the Bubble Tea operator console (`shoal tui`). It talks to
// a node only through the control API client, behind the Node interface, so
// it can be tested against a fake node.
//
// Screens: Peers (this node's header, the peer table, a peer's detail) and
// Jobs (progress of every job, a job's detail with one row per member). One
// KeyMap drives the help bar, the `?` overlay and docs/keys.md.
//
// Data flow: Init connects (subscribes to events, then reads self, peers and
// jobs). Events reach Update through waitEvent, a command that waits for the
// next event and returns it as a message; Update applies it and asks for the
// next one, so no goroutine but Bubble Tea's touches the model. When the
// stream ends or a connect fails, a banner shows it and a retry is scheduled
// with doubling back-off; a successful reconnect refills every screen from
// the API. Messages carry the connection's generation, so a late message from
// an earlier connection is dropped.
//
// Golden files of each screen's View are in testdata (`go test ./tui
// -update` rewrites them and docs/keys.md).
package tui
