package tensor

import (
	"math"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestRecycle: a recycled buffer comes back, zero-filled, from New of the
// same length (tests poison it with NaN meanwhile), and Recycle leaves
// alone what is not a whole host float32 storage.
func TestRecycle(t *testing.T) {
	if !poisonRecycled || minRecycled != 1 {
		t.Fatal("test binaries should recycle every buffer and poison it")
	}
	// Two collections between Recycle and New would drop the buffer: try
	// a few times.
	reused := false
	for range 10 {
		a := Full(3, 5, 7)
		p := unsafe.SliceData(a.data)
		Recycle(a)
		if a.data != nil {
			t.Fatal("a recycled tensor keeps its storage")
		}
		if !math.IsNaN(float64(*p)) {
			t.Fatalf("recycled buffer holds %v, want the NaN poison", *p)
		}
		b := New(7, 5)
		for i, v := range b.data {
			if v != 0 {
				t.Fatalf("New after Recycle: element %d is %v, want 0", i, v)
			}
		}
		if unsafe.SliceData(b.data) == p {
			reused = true
			break
		}
	}
	if !reused {
		t.Error("New never reused the recycled buffer of its length")
	}

	base := Arange(12).Reshape(3, 4)
	for _, c := range []struct {
		name string
		t    *Tensor
	}{
		{"row slice (offset)", base.Slice(0, 1, 3)},
		{"column slice", base.Slice(1, 0, 2)},
		{"transpose", base.Transpose(0, 1)},
		{"expand", Arange(4).Reshape(1, 4).Expand(3, 4)},
		{"float16", FromHalf(make([]uint16, 12), 3, 4)},
		{"empty", New(0)},
	} {
		before := c.t.Clone()
		Recycle(c.t)
		if MaxAbsDiff(c.t, before) != 0 {
			t.Errorf("%s: Recycle changed a view it must leave alone", c.name)
		}
	}
	if MaxAbsDiff(base, Arange(12).Reshape(3, 4)) != 0 {
		t.Error("Recycle of views changed their base")
	}
	Recycle(nil) // no-op

	// Views of one storage (and the same tensor twice) in one call: the
	// storage goes back once, else two later tensors would share it.
	const n = 4099 // a length no other test recycles
	a := New(n)
	free.Lock()
	held := len(free.cur[n]) + len(free.old[n])
	free.Unlock()
	Recycle(a.Reshape(1, n), a, a)
	free.Lock()
	got := len(free.cur[n]) + len(free.old[n])
	free.Unlock()
	if got > held+1 {
		t.Errorf("one storage recycled through three views: %d buffers of its length held, want at most %d", got, held+1)
	}
	if x, y := New(n), New(n); SharesStorage(x, y) {
		t.Error("two new tensors share one recycled storage")
	}
}

func TestSharesStorage(t *testing.T) {
	a := Arange(12).Reshape(3, 4)
	if !SharesStorage(a, a.Transpose(0, 1)) || !SharesStorage(a.Slice(0, 1, 2), a.Slice(1, 2, 3)) {
		t.Error("views of one storage should share it")
	}
	if SharesStorage(a, a.Clone()) {
		t.Error("a copy shares no storage")
	}
}

// TestRecycleBounds: the free lists hold at most maxRecycled bytes, and
// drop a buffer that sat unused through a whole collection cycle.
func TestRecycleBounds(t *testing.T) {
	held := func() int {
		free.Lock()
		defer free.Unlock()
		return free.bytes
	}
	defer func(m int) { maxRecycled = m }(maxRecycled)
	free.Lock()
	free.cur, free.old, free.bytes = map[int][][]float32{}, map[int][][]float32{}, 0
	free.Unlock()
	maxRecycled = 4 * 3000
	ts := []*Tensor{New(1000), New(1000), New(1000), New(1000), New(1000)}
	for _, t := range ts {
		Recycle(t)
	}
	if got, want := held(), maxRecycled; got != want {
		t.Errorf("free lists hold %d bytes after recycling 5 × 4000 under a cap of %d, want %d", got, maxRecycled, want)
	}
	maxRecycled = 1 << 30
	Recycle(New(999))
	deadline := time.Now().Add(5 * time.Second)
	for held() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("free lists still hold %d bytes after collections", held())
		}
		runtime.GC() // the cleanup that ages the lists runs after each cycle
		time.Sleep(time.Millisecond)
	}
}

// TestEmptyOutputsWrittenWhole: the ops that take their output from empty
// (no zero fill) write every element of it. Before each op, buffers of the
// output's length are recycled (and so poisoned with NaN); a finite result
// from finite inputs shows that nothing of the old buffer was left.
func TestEmptyOutputsWrittenWhole(t *testing.T) {
	rng := NewRNG(7)
	x := rng.Normal(0, 1, 4, 6, 5)  // [4, 6, 5]
	w := rng.Normal(0, 1, 5, 3)     // [5, 3]
	row := rng.Normal(0, 1, 5)      // [5], broadcast over x
	ln := rng.Normal(0, 1, 5)       // layer norm weight
	b3 := rng.Normal(0, 1, 4, 5, 3) // a batch of right operands
	xt := x.Transpose(0, 2)         // [5, 6, 4], strided
	g := rng.Normal(0, 1, 4, 6, 5)  // an upstream gradient
	ops := []struct {
		name string
		f    func() *Tensor
	}{
		{"MatMul", func() *Tensor { return MatMul(x, w) }},
		{"MatMul batched", func() *Tensor { return MatMul(x, b3) }},
		{"MatMulT", func() *Tensor { return MatMulT(x.Transpose(1, 2), w, true, false) }},
		{"MatMul k=0", func() *Tensor { return MatMul(New(3, 0), New(0, 4)) }},
		{"Add", func() *Tensor { return Add(x, g) }},
		{"Add broadcast", func() *Tensor { return Add(x, row) }},
		{"Add strided", func() *Tensor { return Add(xt, xt) }},
		{"MulScalar", func() *Tensor { return MulScalar(x, 2) }},
		{"MulScalar strided", func() *Tensor { return MulScalar(xt, 2) }},
		{"Exp", func() *Tensor { return Exp(x) }},
		{"QuickGELU strided", func() *Tensor { return QuickGELU(xt) }},
		{"QuickGELUGrad", func() *Tensor { return QuickGELUGrad(x, g) }},
		{"Clone", func() *Tensor { return x.Clone() }},
		{"Clone strided", func() *Tensor { return xt.Clone() }},
		{"Softmax last", func() *Tensor { return Softmax(x, -1) }},
		{"Softmax middle", func() *Tensor { return Softmax(x, 1) }},
		{"Softmax strided", func() *Tensor { return Softmax(xt, -1) }},
		{"LayerNorm", func() *Tensor { y, _, _ := LayerNorm(x, ln, row, 1e-5); return y }},
		{"LayerNorm strided", func() *Tensor { y, _, _ := LayerNorm(xt.Transpose(0, 2), ln, nil, 1e-5); return y }},
	}
	for _, op := range ops {
		n := op.f().Numel()
		for range 3 {
			Recycle(New(n))
		}
		for i, v := range op.f().Data() {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: element %d is %v: the op left part of a recycled buffer unwritten", op.name, i, v)
			}
		}
	}
}
