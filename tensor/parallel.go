package tensor

import (
	"runtime"
	"sync"
)

// parallelGrain is the fewest elements worth a goroutine: below it an op
// runs on the calling goroutine and allocates nothing beyond its output.
const parallelGrain = 1 << 15

// parallelFor splits [0, n) into contiguous chunks of at least grain/cost
// indices (cost = elements of work per index) and runs body on each,
// concurrently when there are several. Results never depend on the split:
// every index is computed by the same code either way.
func parallelFor(n, cost int, body func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n*max(cost, 1)/parallelGrain)
	if workers <= 1 {
		body(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { body(lo, hi) })
	}
	body(0, n/workers)
	wg.Wait()
}
