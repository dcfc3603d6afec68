//go:build race

package tensor

// The race detector adds allocations; allocation tests skip under it.
const raceEnabled = true
