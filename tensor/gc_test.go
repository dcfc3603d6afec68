package tensor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// stopGCPacing turns SetGCDefaults' pacing off and restores GOGC p.
func stopGCPacing(p int) {
	gcPacing.Lock()
	gcPacing.on, gcPacing.base, gcPacing.applied = false, 0, 0
	gcPacing.Unlock()
	debug.SetGCPercent(p)
}

func TestSetGCDefaults(t *testing.T) {
	prev := debug.SetGCPercent(77)
	defer stopGCPacing(prev)

	// GOGC set: the runtime's value (parsed at start-up) is kept, and
	// SetGCPercent is debug.SetGCPercent.
	t.Setenv("GOGC", "50")
	if got := SetGCDefaults(); got != 77 {
		t.Errorf("GOGC set: SetGCDefaults = %d, want the current 77", got)
	}
	if p := debug.SetGCPercent(77); p != 77 {
		t.Errorf("GOGC set: GC percent changed to %d", p)
	}
	if p := SetGCPercent(60); p != 77 || debug.SetGCPercent(77) != 60 {
		t.Errorf("GOGC set: SetGCPercent(60) returned %d and did not set 60", p)
	}

	t.Setenv("GOGC", "")
	if got := SetGCDefaults(); got != DefaultGCPercent {
		t.Errorf("GOGC unset: SetGCDefaults = %d, want %d", got, DefaultGCPercent)
	}
	// After a collection, the pacing gives the live heap (a few MB in this
	// test binary) at least MinGCHeadroom of room: GOGC well above 20.
	keep := make([]byte, 4<<20)
	runtime.GC()
	want := -1
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		gcPacing.Lock()
		applied := gcPacing.applied
		gcPacing.Unlock()
		if applied != DefaultGCPercent {
			want = applied
			break
		}
	}
	runtime.KeepAlive(keep)
	if want <= DefaultGCPercent || want > maxPacedGCPercent {
		t.Fatalf("GOGC unset: after a collection the pacing set GOGC %d, want between %d and %d for a live heap of %d bytes", want, DefaultGCPercent, maxPacedGCPercent, liveHeap())
	}
	if p := debug.SetGCPercent(want); p != want {
		t.Errorf("the runtime's GOGC is %d, the pacing's %d", p, want)
	}
	// SetGCPercent sets the base under the pacing; a higher one at once.
	if p := SetGCPercent(maxPacedGCPercent + 100); p != DefaultGCPercent {
		t.Errorf("SetGCPercent returned the base %d, want %d", p, DefaultGCPercent)
	}
	if p := debug.SetGCPercent(1); p != maxPacedGCPercent+100 {
		t.Errorf("after SetGCPercent(%d) GOGC is %d", maxPacedGCPercent+100, p)
	}
}

// TestGCPercentFor: GOGC leaves MinGCHeadroom above the live heap, never
// below the base, at most maxPacedGCPercent.
func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		base int
		live uint64
		want int
	}{
		{20, 1024 * mb, 20},  // ViT-B/16-sized: 20% is more than 64 MB
		{20, 320 * mb, 20},   // exactly 64 MB at 20%
		{20, 319 * mb, 21},   // just under: rounded up
		{20, 100 * mb, 64},   // 64 MB of 100
		{20, 16 * mb, 400},   // at the cap
		{20, 1 * mb, 400},    // a process just started
		{100, 100 * mb, 100}, // the base wins
		{20, 0, 20},          // nothing measured yet
		{-1, 10 * mb, -1},    // GC off stays off
	} {
		if got := gcPercentFor(c.base, c.live); got != c.want {
			t.Errorf("gcPercentFor(%d, %d MB) = %d, want %d", c.base, c.live/mb, got, c.want)
		}
	}
}
