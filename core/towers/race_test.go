//go:build race

package towers

// raceEnabled: the race detector makes sync.Pool drop items at random, so
// tests that bound steady-state allocation skip themselves.
const raceEnabled = true
