package tensor

import (
	"math"
	"sync"
	"testing"
	"unsafe"
)

// Recycling host buffers. Every host tensor New makes draws its storage
// from hostAlloc; Recycle hands the storage of a tensor that is known to be
// dead back for reuse. The autograd engine recycles each gradient once it
// has been passed on (autograd's backprop), so a backward pass reuses the
// buffers of the gradients it has finished with instead of allocating new
// ones: the garbage collector then runs less often, and on two cores each
// collection takes a share of one of the two workers away from the sgemm
// (docs/cost_model.md, "Allocation and the garbage collector").
//
// The free lists are sync.Pools, one per buffer length: the runtime empties
// them over two collections, so recycled buffers that nothing reuses are
// not kept.

var (
	// minRecycled is the smallest buffer (in floats: 16 KiB) that is
	// recycled; smaller ones are cheap for the allocator and left to the
	// collector.
	minRecycled = 1 << 12
	// poisonRecycled fills every recycled buffer with NaN, so that one
	// still read after Recycle shows up as NaN in the results.
	poisonRecycled = false
)

// Test binaries recycle every buffer, however small, and poison it: every
// package's tests, on tiny models too, then check the rule Recycle states.
func init() {
	if testing.Testing() {
		minRecycled, poisonRecycled = 1, true
	}
}

var recycled sync.Map // buffer length -> *sync.Pool of *[]float32

// hostAlloc returns a zero-filled buffer of n floats, a recycled one when
// there is one of that length.
func hostAlloc(n int) []float32 {
	if n >= minRecycled {
		if p, ok := recycled.Load(n); ok {
			if b, _ := p.(*sync.Pool).Get().(*[]float32); b != nil {
				clear(*b)
				return *b
			}
		}
	}
	return make([]float32, n)
}

// Recycle hands t's storage to the allocator, for a later New to reuse.
// The caller guarantees that neither t nor any view of its storage is used
// afterwards; t itself is left without storage (using it panics). Recycle
// does nothing unless t is a contiguous host float32 tensor that spans its
// whole storage (not a view into a larger one) of at least 16 KiB.
func Recycle(t *Tensor) {
	if t == nil || !t.onHost() || t.data == nil || t.offset != 0 ||
		len(t.data) < minRecycled || len(t.data) != t.Numel() || !t.IsContiguous() {
		return
	}
	d := t.data[:len(t.data):len(t.data)]
	t.data = nil
	if poisonRecycled {
		fillSlice(d, float32(math.NaN()))
	}
	p, _ := recycled.LoadOrStore(len(d), new(sync.Pool))
	p.(*sync.Pool).Put(&d)
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
