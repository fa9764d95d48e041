// Package controlapi holds the JSON types of a shoal node's local control API
// and the Go client that the CLI and the terminal UI share.
//
// It deliberately imports no libp2p (or any networking stack beyond net/http),
// so the TUI can depend on it and be tested against a fake node; a test
// (deps_test.go) keeps it that way. The server side lives in package serve.
//
// Every decoder here is size-limited: JSON bodies (DecodeJSON), the API token
// file (ReadTokenFile) and server-sent event frames (EventDecoder).
package controlapi
