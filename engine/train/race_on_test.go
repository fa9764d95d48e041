//go:build race

package train

// raceEnabled is true under -race: the race detector slows numeric code
// 5-20x and changes allocation counts, so long training tests and
// allocation checks skip.
const raceEnabled = true
