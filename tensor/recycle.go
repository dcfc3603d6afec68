package tensor

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"unsafe"
)

// Recycling host buffers. Every host tensor New makes draws its storage
// from hostAlloc; Recycle hands the storage of a tensor that is known to be
// dead back for reuse. The autograd engine recycles each gradient once it
// has been passed on (autograd's backprop), and nn's blocks the
// activations of a forward that is in no graph, so a backward pass and a
// frozen tower reuse the buffers they have finished with instead of
// allocating new ones: the garbage collector then runs less often, and on
// two cores each collection takes a share of one of the two workers away
// from the sgemm (docs/cost_model.md, "Allocation and the garbage
// collector").
//
// The free lists hold at most maxRecycled bytes (a buffer recycled past
// that is left to the collector), and a buffer that sits unused through a
// whole garbage collection cycle is dropped at the next: what a workload
// no longer reuses (a training step's sizes once evaluation runs) is not
// kept.

var (
	// minRecycled is the smallest buffer (in floats: 16 KiB) that is
	// recycled; smaller ones are cheap for the allocator and left to the
	// collector.
	minRecycled = 1 << 12
	// poisonRecycled fills every recycled buffer with NaN, so that one
	// still read after Recycle shows up as NaN in the results.
	poisonRecycled = false
)

// maxRecycled caps the bytes the free lists hold: a CoCoOp training
// step's saved activations at batch 8 × 50 classes (≈ 0.6 GB) fit, so the
// next step's forward reuses them instead of faulting fresh pages in
// (under the former 256 MiB that step was 17% slower, docs/cost_model.md,
// "Large batches and fresh pages"); so does a ViT-B/16 block's activations
// at batch 8 (≈ 110 MB), block after block (cocoop runs the image tower 8
// images at a time on the CPU for that reason). What no workload reuses
// is dropped after a collection cycle (age), and the cap bounds the extra
// peak memory.
var maxRecycled = 1 << 30 // 1 GiB

// Test binaries recycle every buffer, however small, and poison it: every
// package's tests, on tiny models too, then check the rule Recycle states.
func init() {
	if testing.Testing() {
		minRecycled, poisonRecycled = 1, true
	}
	watchGC()
}

// freeLists holds recycled buffers by length: those recycled since the
// last collection (cur) and those that sat through it (old).
type freeLists struct {
	sync.Mutex
	cur, old map[int][][]float32
	bytes    int // held in cur and old
}

var free = freeLists{cur: map[int][][]float32{}, old: map[int][][]float32{}}

// watchGC arranges for free.age and paceGC to run after the next garbage
// collection, and again after every one that follows. A finalizer, not
// runtime.AddCleanup: a chain of cleanups, each arming the next, stalled
// now and then when tests ran side by side on the two cores (the second
// sentinel never cleaned up through 5 s of collections: TestRecycleBounds
// failed in 1–3 of 6 parallel runs of the package's tests, the finalizer
// chain in none of 36).
func watchGC() {
	sentinel := new([2]*int) // not a tiny allocation: reclaimed by the first cycle after it is dropped
	runtime.SetFinalizer(sentinel, func(*[2]*int) {
		free.age()
		paceGC() // gc.go
		watchGC()
	})
}

// age drops the buffers that sat unused through the last collection.
func (f *freeLists) age() {
	f.Lock()
	defer f.Unlock()
	for n, bufs := range f.old {
		f.bytes -= 4 * n * len(bufs)
	}
	f.old, f.cur = f.cur, map[int][][]float32{}
}

// take returns a recycled buffer of n floats, or nil.
func (f *freeLists) take(n int) []float32 {
	f.Lock()
	defer f.Unlock()
	for _, m := range []map[int][][]float32{f.cur, f.old} {
		if bufs := m[n]; len(bufs) > 0 {
			b := bufs[len(bufs)-1]
			bufs[len(bufs)-1] = nil
			m[n] = bufs[:len(bufs)-1]
			f.bytes -= 4 * n
			return b
		}
	}
	return nil
}

// put keeps b for reuse unless that would pass maxRecycled.
func (f *freeLists) put(b []float32) {
	f.Lock()
	defer f.Unlock()
	if f.bytes+4*len(b) > maxRecycled {
		return
	}
	f.cur[len(b)] = append(f.cur[len(b)], b)
	f.bytes += 4 * len(b)
}

// hostAlloc returns a buffer of n floats, a recycled one when there is one
// of that length; zero-filled if zero, else holding whatever it held (a
// fresh one is zero either way).
func hostAlloc(n int, zero bool) []float32 {
	if n >= minRecycled {
		if b := free.take(n); b != nil {
			if zero {
				clear(b)
			}
			return b
		}
	}
	return make([]float32, n)
}

// Recycle hands the storage of each of ts to the allocator, for a later
// New to reuse; a storage that several of them view goes back once. The
// caller guarantees that none of ts nor any view of their storage is used
// afterwards; each tensor is left without storage (using it panics).
// Recycle skips a tensor unless it is a contiguous host float32 tensor that
// spans its whole storage (not a view into a larger one) of at least 16 KiB.
func Recycle(ts ...*Tensor) {
	var buf [8]*float32
	done := buf[:0] // storages handed back by this call
	for _, t := range ts {
		if t == nil || !OwnsStorage(t) || len(t.data) < minRecycled {
			continue
		}
		d := t.data[:len(t.data):len(t.data)]
		t.data = nil
		if p := unsafe.SliceData(d); !slices.Contains(done, p) {
			done = append(done, p)
			if poisonRecycled {
				fillSlice(d, float32(math.NaN()))
			}
			free.put(d)
		}
	}
}

// OwnsStorage reports whether t is a contiguous host float32 tensor that
// spans its whole storage, not a view into a larger one.
func OwnsStorage(t *Tensor) bool {
	return t.onHost() && t.data != nil && t.offset == 0 && len(t.data) == t.Numel() && t.IsContiguous()
}

// SharesStorage reports whether a and b are views of one host storage (or
// the same tensor): writing through one may change the other.
func SharesStorage(a, b *Tensor) bool {
	if a == b {
		return true
	}
	if a.data == nil || b.data == nil {
		return false
	}
	return unsafe.SliceData(a.data) == unsafe.SliceData(b.data)
}
