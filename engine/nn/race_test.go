//go:build race

package nn

// raceEnabled: the race detector slows the numeric loops about 15x, so
// the real-data tests train on less.
const raceEnabled = true
