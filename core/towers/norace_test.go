//go:build !race

package towers

const raceEnabled = false
