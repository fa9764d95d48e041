//go:build !race

package tfserving

const raceEnabled = false
