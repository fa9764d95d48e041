//go:build race

package avg

// raceEnabled shrinks the heaviest tests under the race detector, which
// slows the averaging loops about tenfold; what they measure (rounds to
// consensus) does not depend on the vector length.
const raceEnabled = true
