//go:build !linux

package modelserver

import "syscall"

// listenControl leaves the listener as it is off Linux (see mss_linux.go).
func listenControl(_, _ string, _ syscall.RawConn) error { return nil }
