//go:build !race

package avg

const raceEnabled = false
