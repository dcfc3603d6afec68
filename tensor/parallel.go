package tensor

import (
	"github.com/gocoop/gocoop/asm"
	"runtime"
)

// parallelGrain is the fewest elements worth a goroutine: below it an op
// runs on the calling goroutine and allocates nothing beyond its output.
const parallelGrain = 1 << 15

// Workers is how many chunks ParallelFor splits n indices of the given cost
// (elements of work per index) into: at most GOMAXPROCS, at least one, and
// none smaller than the grain.
func Workers(n, cost int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n*max(cost, 1)/parallelGrain))
}

// ParallelFor splits [0, n) into Workers(n, cost) contiguous chunks and runs
// body(w, lo, hi) on chunk w, concurrently when there are several. Results
// never depend on the split: every index is computed by the same code
// either way. The calling goroutine runs chunk 0.
func ParallelFor(n, cost int, body func(w, lo, hi int)) {
	workers := Workers(n, cost)
	if workers == 1 {
		body(0, 0, n)
		return
	}
	asm.Parallel(workers, func(w int) { body(w, n*w/workers, n*(w+1)/workers) })
}

// parallelFor is ParallelFor for bodies that need no chunk index.
func parallelFor(n, cost int, body func(lo, hi int)) {
	ParallelFor(n, cost, func(_, lo, hi int) { body(lo, hi) })
}
