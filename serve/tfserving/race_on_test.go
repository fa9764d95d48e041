//go:build race

package tfserving

// raceEnabled: under the race detector sync.Pool drops a quarter of what
// is put back on purpose (to shake out code that relies on reuse), so a
// test that measures the pool's reuse cannot hold there.
const raceEnabled = true
