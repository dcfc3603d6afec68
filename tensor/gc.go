package tensor

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultGCPercent is the garbage collector's GOGC that SetGCDefaults
// sets: the heap may grow to (1 + DefaultGCPercent/100) × the live heap
// before a collection. Go's default, 100, doubles it; with CLIP's ~600 MB
// of fp32 weights live (ViT-B/16) that alone is 600 MB of headroom. The
// weights are pointer-free []float32, so the extra collections are cheap
// (the collector marks each weight slice without scanning it).
const DefaultGCPercent = 20

// MinGCHeadroom is the least the heap may grow between two collections
// under SetGCDefaults' pacing: GOGC is raised after each collection to
// keep at least this much room above the live heap. With a small model
// (cocoop demo's: a live heap of 10–70 MB) 20% is a few MB, and the
// collector ran some 90 times a second; with ViT-B/16's weights live, 20%
// is more than this and nothing changes.
const MinGCHeadroom = 64 << 20

// gcPacing is SetGCDefaults' pacing, applied by paceGC after every
// collection while on.
var gcPacing struct {
	sync.Mutex
	on      bool
	base    int // the GOGC asked for (DefaultGCPercent, or SetGCPercent's)
	applied int // the GOGC last set
}

// SetGCDefaults sets GoCoOp's garbage-collector pacing for a process that
// holds a model: GOGC = DefaultGCPercent, raised after each collection as
// far as needed to leave MinGCHeadroom above the live heap, unless the
// GOGC environment variable is set and not empty (it then wins, as for any
// Go program). GOMEMLIMIT, when set, is applied by the Go runtime itself
// and is left alone. The cocoop command and the benchmark workers call it
// at start-up; library code never does. It returns the GC percent asked
// for.
func SetGCDefaults() int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(100) // read the value the runtime parsed from GOGC
		debug.SetGCPercent(p)
		return p
	}
	gcPacing.Lock()
	gcPacing.on = true
	gcPacing.Unlock()
	SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}

// SetGCPercent sets the GOGC that SetGCDefaults' pacing starts from (a
// phase whose live heap is small but allocates much per step, such as
// pretraining a small model, asks for more) and returns the previous one;
// a higher one applies at once, a lower one from the next collection on.
// Without that pacing it is debug.SetGCPercent.
func SetGCPercent(p int) int {
	gcPacing.Lock()
	defer gcPacing.Unlock()
	if !gcPacing.on {
		return debug.SetGCPercent(p)
	}
	prev := gcPacing.base
	gcPacing.base = p
	if gcPacing.applied < p { // raise it now; the next collection paces it
		gcPacing.applied = p
		debug.SetGCPercent(p)
	}
	return prev
}

// paceGC runs after every collection (watchGC): under SetGCDefaults'
// pacing it sets GOGC for the live heap the collection left.
func paceGC() {
	gcPacing.Lock()
	defer gcPacing.Unlock()
	if !gcPacing.on {
		return
	}
	if p := gcPercentFor(gcPacing.base, liveHeap()); p != gcPacing.applied {
		gcPacing.applied = p
		debug.SetGCPercent(p)
	}
}

// gcPercentFor is the GOGC that gives at least MinGCHeadroom of room above
// a live heap (liveHeap) of live bytes, and never less than base (a
// negative base, GC off, is kept).
func gcPercentFor(base int, live uint64) int {
	if base < 0 || live == 0 {
		return base
	}
	need := (100*uint64(MinGCHeadroom) + live - 1) / live
	return max(base, int(min(need, maxPacedGCPercent)))
}

// maxPacedGCPercent is the most the pacing raises GOGC to: a live heap
// under 16 MB gets less than MinGCHeadroom. A process's first collections
// find next to nothing live (under 1 MB), and a GOGC sized for that would
// let a burst of allocation right after start-up grow the heap by
// hundreds of MB before the next one.
const maxPacedGCPercent = 400

// liveHeap is what GOGC is a percentage of, in bytes: the heap the last
// collection marked live plus the stacks and globals it scanned (the
// runtime's heap goal is live + (live + stacks + globals) × GOGC/100).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	var n uint64
	for _, m := range s {
		if m.Value.Kind() == metrics.KindUint64 {
			n += m.Value.Uint64()
		}
	}
	return n
}
