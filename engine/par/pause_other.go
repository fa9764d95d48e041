//go:build !amd64 || purego

package par

// pause does nothing where there is no spin-wait hint here (see pause_amd64.go).
func pause() {}
