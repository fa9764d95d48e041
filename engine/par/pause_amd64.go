//go:build !purego

package par

// pause is the PAUSE instruction: it tells the core this is a spin-wait, so
// that it neither starves a hyperthread sibling nor speculates a memory-order
// violation when the polled line finally changes.
func pause()
