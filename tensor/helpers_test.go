package tensor

import (
	"math"
	"testing"
)

// forEachIndex calls fn with every multi-index of shape in row-major order.
func forEachIndex(shape []int, fn func(idx []int)) {
	if numel(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		fn(idx)
		k := len(shape) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// randT returns a tensor of uniform values in [-1, 1) with a fixed seed.
func randT(seed uint64, shape ...int) *Tensor {
	return NewRNG(seed).Uniform(-1, 1, shape...)
}

// bcastAt reads t at the broadcast index idx (t's dims aligned right).
func bcastAt(t *Tensor, idx []int) float64 {
	j := make([]int, len(t.shape))
	off := len(idx) - len(t.shape)
	for i := range j {
		if t.shape[i] != 1 {
			j[i] = idx[off+i]
		}
	}
	return float64(t.At(j...))
}

func assertClose(t *testing.T, name string, got *Tensor, want []float64, shape []int, tol float64) {
	t.Helper()
	if !SameShape(got.Shape(), shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape(), shape)
	}
	g := got.ToSlice()
	if len(g) != len(want) {
		t.Fatalf("%s: %d elements, want %d", name, len(g), len(want))
	}
	for i := range g {
		w := want[i]
		if math.IsInf(w, 0) && float64(g[i]) == w {
			continue
		}
		if d := math.Abs(float64(g[i]) - w); !(d <= tol*(1+math.Abs(w))) {
			t.Fatalf("%s: element %d = %v, want %v (diff %g)", name, i, g[i], w, d)
		}
	}
}

// mustPanicShape runs f and returns the *ShapeError it panics with.
func mustPanicShape(t *testing.T, f func()) *ShapeError {
	t.Helper()
	var err error
	func() {
		defer Catch(&err)
		f()
	}()
	se, ok := err.(*ShapeError)
	if !ok {
		t.Fatalf("want a *ShapeError panic, got %v", err)
	}
	return se
}

func f32s(v ...float32) []float32 { return v }

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
