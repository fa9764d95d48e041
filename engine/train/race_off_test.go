//go:build !race

package train

// raceEnabled is false without -race (see race_on_test.go).
const raceEnabled = false
