// Package serve is the HTTP face of a node: the local control API used by
// the CLI and the TUI, and (later) the model-serving routes and metrics.
package serve
