package autograd

import (
	"runtime"
	"sync"

	"github.com/gocoop/gocoop/tensor"
)

// Private helpers for the hot elementwise paths (activations of every
// transformer layer, forward and backward): one pass over contiguous data,
// split across cores, with the loop inside the kernel rather than a call per
// element as tensor.Map2 makes.

// minChunk is the fewest elements (or rows × width) worth a goroutine.
const minChunk = 1 << 15

// workersFor is how many chunks parallelFor splits n indices of the given
// cost (work per index, in elements) into.
func workersFor(n, cost int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n*cost/minChunk))
}

// parallelFor runs body(w, lo, hi) for chunk w of workersFor(n, cost)
// contiguous chunks of [0, n), concurrently when there are several.
func parallelFor(n, cost int, body func(w, lo, hi int)) {
	workers := workersFor(n, cost)
	if workers == 1 {
		body(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Go(func() { body(w, lo, hi) })
	}
	wg.Wait()
}

// zip returns kernel(a, b) elementwise for a and b of the same shape; kernel
// fills out[i] from a[i], b[i] and is called on chunks in parallel.
func zip(a, b *tensor.Tensor, kernel func(out, a, b []float32)) *tensor.Tensor {
	if !tensor.SameShape(a.Shape(), b.Shape()) {
		panic(&tensor.ShapeError{Op: "autograd.zip", Shapes: [][]int{a.Shape(), b.Shape()}, Msg: "shapes differ"})
	}
	out := tensor.New(a.Shape()...)
	od, ad, bd := out.Data(), a.Contiguous().Data(), b.Contiguous().Data()
	parallelFor(len(od), 1, func(_, lo, hi int) { kernel(od[lo:hi], ad[lo:hi], bd[lo:hi]) })
	return out
}

// mapTensor returns kernel(a) elementwise, as zip.
func mapTensor(a *tensor.Tensor, kernel func(out, a []float32)) *tensor.Tensor {
	out := tensor.New(a.Shape()...)
	od, ad := out.Data(), a.Contiguous().Data()
	parallelFor(len(od), 1, func(_, lo, hi int) { kernel(od[lo:hi], ad[lo:hi]) })
	return out
}
