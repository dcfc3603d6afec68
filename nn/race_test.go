//go:build race

package nn

// The race detector adds allocations; allocation tests skip under it.
const raceEnabled = true
