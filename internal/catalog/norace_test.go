//go:build !race

package catalog

// raceEnabled relaxes timing assertions under the race detector.
const raceEnabled = false
