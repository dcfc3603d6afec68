package tensor

import (
	"runtime/debug"
	"testing"
)

func TestSetGCDefaults(t *testing.T) {
	prev := debug.SetGCPercent(77)
	defer debug.SetGCPercent(prev)

	t.Setenv("GOGC", "")
	if got := SetGCDefaults(); got != DefaultGCPercent {
		t.Errorf("GOGC unset: SetGCDefaults = %d, want %d", got, DefaultGCPercent)
	}
	if p := debug.SetGCPercent(77); p != DefaultGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", p, DefaultGCPercent)
	}

	// GOGC set: the runtime's value (parsed at start-up) is kept.
	t.Setenv("GOGC", "50")
	if got := SetGCDefaults(); got != 77 {
		t.Errorf("GOGC set: SetGCDefaults = %d, want the current 77", got)
	}
	if p := debug.SetGCPercent(77); p != 77 {
		t.Errorf("GOGC set: GC percent changed to %d", p)
	}
}
