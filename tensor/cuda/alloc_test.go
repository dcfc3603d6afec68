package cuda

import (
	"errors"
	"strings"
	"testing"
)

// fakeMem hands out addresses from a budget and records frees.
type fakeMem struct {
	next, used, budget int
	live               map[uint64]int
	frees              int
}

func (f *fakeMem) Alloc(bytes int) (uint64, error) {
	if f.used+bytes > f.budget {
		return 0, errOutOfMemory
	}
	f.next += bytes
	f.used += bytes
	p := uint64(f.next)
	f.live[p] = bytes
	return p, nil
}

func (f *fakeMem) Free(p uint64) error {
	n, ok := f.live[p]
	if !ok {
		return errors.New("double free")
	}
	delete(f.live, p)
	f.used -= n
	f.frees++
	return nil
}

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ in, want int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {1<<20 - 1, 1 << 20}, {1 << 20, 2 << 20}, {3 << 20, 4 << 20},
	} {
		if got := sizeClass(c.in); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestCacheReuseAndRelease(t *testing.T) {
	raw := &fakeMem{budget: 1 << 30, live: map[uint64]int{}}
	c := newCache(raw, nil)
	p, class, err := c.get(1000)
	if err != nil || class != 1024 {
		t.Fatalf("get: %v, class %d", err, class)
	}
	c.put(p, class)
	q, _, _ := c.get(900) // same class: served from the cache
	if q != p {
		t.Errorf("same size class not reused: %d then %d", p, q)
	}
	r, rc, _ := c.get(5000)
	s := c.Stats()
	if s.Allocs != 2 || s.Reuses != 1 || s.InUse != 1024+sizeClass(5000) || s.Cached != 0 {
		t.Errorf("stats %+v", s)
	}
	c.put(q, 1024)
	c.put(r, rc)
	if s := c.Stats(); s.InUse != 0 || s.Cached != 1024+rc || s.Peak != 1024+rc {
		t.Errorf("after put: %+v", s)
	}
	// A new high-water mark starts at the current use (Backend.ResetPeak).
	u, uc, _ := c.get(100)
	c.resetPeak()
	if s := c.Stats(); s.Peak != uc || s.InUse != uc {
		t.Errorf("after resetPeak with %d in use: %+v", uc, s)
	}
	c.put(u, uc)
	if err := c.release(); err != nil || len(raw.live) != 0 || c.Stats().Cached != 0 {
		t.Errorf("release: %v, %d live, %+v", err, len(raw.live), c.Stats())
	}
}

func TestCacheOutOfMemoryRecovers(t *testing.T) {
	raw := &fakeMem{budget: 4 << 20, live: map[uint64]int{}}
	var c *cache
	var dead []uint64
	gcRuns := 0
	// The "collector" returns a buffer whose tensor died.
	c = newCache(raw, func() {
		gcRuns++
		for _, p := range dead {
			c.put(p, 2<<20)
		}
		dead = nil
	})
	a, _, _ := c.get(2 << 20)
	b, _, _ := c.get(2 << 20)
	c.put(a, 2<<20) // cached
	dead = append(dead, b)
	// Needs 4 MiB: only possible after both cached and dead blocks go back.
	if _, _, err := c.get(4 << 20); err != nil {
		t.Fatalf("want recovery after release and gc: %v", err)
	}
	if gcRuns != 1 || raw.frees != 2 {
		t.Errorf("gc runs %d, raw frees %d", gcRuns, raw.frees)
	}
	_, _, err := c.get(2 << 20)
	if !errors.Is(err, errOutOfMemory) || !strings.Contains(err.Error(), "allocating 2097152 bytes") {
		t.Errorf("want a wrapped out-of-memory error naming the size, got %v", err)
	}
}
