package cuda

import (
	"errors"
	"fmt"
	"sync"
)

// The caching allocator. cuMemAlloc and cuMemFree synchronize the device
// and cost tens of microseconds, and a training step allocates hundreds of
// activations of the same few sizes, so freed blocks are kept in per-size
// free lists and reused. Sizes are rounded up to a size class; when the
// device runs out of memory the cache returns every free block to the
// driver, asks the Go garbage collector to release unreachable tensors (a
// buffer goes back to the cache when its tensor is collected) and tries
// once more. docs/cuda.md §3.

// rawMemory is the device allocator under the cache (the CUDA driver, or a
// fake in the tests).
type rawMemory interface {
	Alloc(bytes int) (uint64, error)
	Free(ptr uint64) error
}

// errOutOfMemory marks a raw allocation failure the cache may recover from.
var errOutOfMemory = errors.New("out of device memory")

// sizeClass rounds a request in bytes up: to 512 B below 1 MiB, to 2 MiB above.
func sizeClass(bytes int) int {
	const small, large = 512, 2 << 20
	if bytes <= 0 {
		return small
	}
	if bytes < 1<<20 {
		return (bytes + small - 1) / small * small
	}
	return (bytes + large - 1) / large * large
}

// MemStats are the cache's byte counts.
type MemStats struct {
	InUse  int // held by live buffers
	Cached int // freed, kept for reuse
	Peak   int // the largest InUse seen
	Allocs int // raw allocations made (cache misses)
	Reuses int // requests served from the cache
}

type cache struct {
	mu    sync.Mutex
	raw   rawMemory
	gc    func() // collect garbage so that dead buffers come back (runtime.GC in production)
	free  map[int][]uint64
	stats MemStats
}

func newCache(raw rawMemory, gc func()) *cache {
	return &cache{raw: raw, gc: gc, free: map[int][]uint64{}}
}

// get returns a block of at least bytes and its size class.
func (c *cache) get(bytes int) (uint64, int, error) {
	class := sizeClass(bytes)
	c.mu.Lock()
	if l := c.free[class]; len(l) > 0 {
		p := l[len(l)-1]
		c.free[class] = l[:len(l)-1]
		c.stats.Cached -= class
		c.took(class)
		c.stats.Reuses++
		c.mu.Unlock()
		return p, class, nil
	}
	c.mu.Unlock()
	p, err := c.raw.Alloc(class)
	if errors.Is(err, errOutOfMemory) {
		// Give back what is cached, let the collector return dead
		// buffers, give those back too, and try once more.
		c.release()
		if c.gc != nil {
			c.gc()
		}
		c.release()
		p, err = c.raw.Alloc(class)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("allocating %d bytes (in use %d, peak %d): %w", class, c.Stats().InUse, c.Stats().Peak, err)
	}
	c.mu.Lock()
	c.took(class)
	c.stats.Allocs++
	c.mu.Unlock()
	return p, class, nil
}

func (c *cache) took(class int) {
	c.stats.InUse += class
	c.stats.Peak = max(c.stats.Peak, c.stats.InUse)
}

// put returns a block to its free list.
func (c *cache) put(p uint64, class int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free[class] = append(c.free[class], p)
	c.stats.InUse -= class
	c.stats.Cached += class
}

// release frees every cached block to the raw allocator.
func (c *cache) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first error
	for class, l := range c.free {
		for _, p := range l {
			if err := c.raw.Free(p); err != nil && first == nil {
				first = err
			}
			c.stats.Cached -= class
		}
		delete(c.free, class)
	}
	return first
}

// resetPeak starts a new high-water mark at the current use.
func (c *cache) resetPeak() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats.Peak = c.stats.InUse
}

// Stats returns the current counts.
func (c *cache) Stats() MemStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}
