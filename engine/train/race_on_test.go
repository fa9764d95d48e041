//go:build race

package train

// raceEnabled is true under -race: the race detector slows execution
// 2-20x (Go's race detector documentation) and changes allocation counts,
// so long training tests and allocation checks skip.
const raceEnabled = true
