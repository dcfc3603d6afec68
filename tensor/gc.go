package tensor

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is the garbage collector's GOGC that SetGCDefaults
// sets: the heap may grow to (1 + DefaultGCPercent/100) × the live heap
// before a collection. Go's default, 100, doubles it; with CLIP's ~600 MB
// of fp32 weights live (ViT-B/16) that alone is 600 MB of headroom. The
// weights are pointer-free []float32, so the extra collections are cheap
// (the collector marks each weight slice without scanning it).
const DefaultGCPercent = 20

// SetGCDefaults sets GoCoOp's garbage-collector pacing for a process that
// holds a model: GOGC = DefaultGCPercent, unless the GOGC environment
// variable is set and not empty (it then wins, as for any Go program). GOMEMLIMIT, when
// set, is applied by the Go runtime itself and is left alone. The cocoop
// command and the benchmark workers call it at start-up; library code never
// does. It returns the GC percent in effect.
func SetGCDefaults() int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(100) // read the value the runtime parsed from GOGC
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}
