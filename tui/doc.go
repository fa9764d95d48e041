// Package tui is the Bubble Tea operator console. It talks to a node only
// through the control API client, so it can be tested against a fake node.
package tui
