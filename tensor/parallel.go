package tensor

import (
	"runtime"

	"github.com/gocoop/gocoop/asm"
)

// parallelGrain is the fewest elements worth a goroutine: below it an op
// runs on the calling goroutine and allocates nothing beyond its output.
const parallelGrain = 1 << 15

// vecAlign is the alignment of ParallelForVec's chunk boundaries: 16
// float32, the widest vector of asm's kernels (AVX-512; AVX2's 8 and
// NEON's 4 divide it). asm's kernels run the first len&^(lanes-1)
// elements of a slice through the vector body and the rest through a
// scalar Go tail, and the two can round differently (the exponential's
// vector body uses FMA). With every boundary a multiple of 16, each chunk
// but the last is whole vectors and the last ends where the array does, so
// every element goes through the body or the tail exactly as it would
// without a split.
const vecAlign = 16

// Workers is how many chunks ParallelFor splits n indices of the given cost
// (elements of work per index) into: at most GOMAXPROCS, at least one, and
// none smaller than the grain.
func Workers(n, cost int) int {
	return max(1, min(runtime.GOMAXPROCS(0), n*max(cost, 1)/parallelGrain))
}

// ParallelFor splits [0, n) into Workers(n, cost) contiguous chunks and runs
// body(w, lo, hi) on chunk w, concurrently when there are several; the
// calling goroutine runs chunk 0. body must compute each index the same way
// whatever chunk holds it (rows of a matrix, one at a time), so that results
// never depend on the number of cores. For flat data handed to asm's vector
// kernels a chunk at a time, use ParallelForVec.
func ParallelFor(n, cost int, body func(w, lo, hi int)) {
	split(n, 1, cost, body)
}

// ParallelForVec is ParallelFor for flat arrays whose chunks are handed to
// asm's vector kernels (elementwise ops): chunk boundaries are multiples of
// 16 elements, so that every element is computed by the kernels' vector
// body or by their scalar tail independently of the split, and results are
// bit-identical for any number of cores.
func ParallelForVec(n, cost int, body func(w, lo, hi int)) {
	split(n, vecAlign, cost, body)
}

// split runs body on Workers(n, cost) chunks of [0, n) whose boundaries,
// except n, are multiples of align.
func split(n, align, cost int, body func(w, lo, hi int)) {
	workers := Workers(n, cost)
	blocks := (n + align - 1) / align
	workers = min(workers, blocks)
	if workers <= 1 {
		body(0, 0, n)
		return
	}
	at := func(w int) int { return min(n, blocks*w/workers*align) }
	asm.Parallel(workers, func(w int) { body(w, at(w), at(w+1)) })
}

// parallelForVec is ParallelForVec for bodies that need no chunk index.
func parallelForVec(n, cost int, body func(lo, hi int)) {
	ParallelForVec(n, cost, func(_, lo, hi int) { body(lo, hi) })
}

// parallelFor is ParallelFor for bodies that need no chunk index.
func parallelFor(n, cost int, body func(lo, hi int)) {
	ParallelFor(n, cost, func(_, lo, hi int) { body(lo, hi) })
}
