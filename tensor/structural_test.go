package tensor

import (
	"math"
	"strings"
	"testing"
)

func TestConcatStack(t *testing.T) {
	a := FromSlice(f32s(1, 2, 3, 4), 2, 2)
	b := FromSlice(f32s(5, 6), 1, 2)
	assertClose(t, "dim0", Concat([]*Tensor{a, b}, 0), []float64{1, 2, 3, 4, 5, 6}, []int{3, 2}, 0)
	assertClose(t, "dim1", Concat([]*Tensor{a, b.T().Expand(2, 2)}, -1), []float64{1, 2, 5, 5, 3, 4, 6, 6}, []int{2, 4}, 0)
	assertClose(t, "stack0", Stack([]*Tensor{a, a.T()}, 0), []float64{1, 2, 3, 4, 1, 3, 2, 4}, []int{2, 2, 2}, 0)
	assertClose(t, "stack-1", Stack([]*Tensor{a, a}, -1), []float64{1, 1, 2, 2, 3, 3, 4, 4}, []int{2, 2, 2}, 0)
	// Concat then Slice gives the pieces back, for a middle dim.
	x, y := randT(1, 2, 3, 4), randT(2, 2, 5, 4)
	c := Concat([]*Tensor{x, y}, 1)
	if MaxAbsDiff(c.Slice(1, 0, 3), x) != 0 || MaxAbsDiff(c.Slice(1, 3, 8), y) != 0 {
		t.Error("Concat middle dim")
	}
	mustPanicShape(t, func() { Stack([]*Tensor{a, b}, 0) })
}

func TestIndexSelectAdd(t *testing.T) {
	w := randT(1, 5, 3)
	got := IndexSelect(w, 0, []int{4, 0, 4})
	for i, j := range []int{4, 0, 4} {
		if MaxAbsDiff(got.Index(0, i), w.Index(0, j)) != 0 {
			t.Fatalf("row %d", i)
		}
	}
	// Adjointness ⟨IndexSelect(x), y⟩ = ⟨x, IndexAdd(0, y)⟩ on several dims and layouts.
	cases := []struct {
		x   *Tensor
		dim int
		idx []int
	}{
		{randT(2, 5, 3), 0, []int{4, 0, 4, 2}},
		{randT(3, 2, 6, 3), 1, []int{5, 5, 0}},
		{randT(4, 2, 3, 6), -1, []int{1, 3}},
		{randT(5, 6, 4).T(), 1, []int{0, 5, 5, 5}},
	}
	for i, c := range cases {
		sel := IndexSelect(c.x, c.dim, c.idx)
		y := randT(uint64(50+i), sel.Shape()...)
		acc := ZerosLike(c.x)
		IndexAdd(acc, c.dim, c.idx, y)
		lhs, rhs := dot64(sel, y), dot64(c.x, acc)
		if math.Abs(lhs-rhs) > 1e-5*(1+math.Abs(lhs)) {
			t.Errorf("case %d: <sel x, y> = %v, <x, IndexAdd y> = %v", i, lhs, rhs)
		}
	}
	// Strided dst (transposed view) agrees with contiguous dst.
	dst := New(4, 6)
	dstT := New(6, 4).T()
	src := randT(9, 4, 3)
	IndexAdd(dst, 1, []int{5, 0, 5}, src)
	IndexAdd(dstT, 1, []int{5, 0, 5}, src)
	if MaxAbsDiff(dst, dstT) != 0 {
		t.Error("IndexAdd on a strided view")
	}
	se := mustPanicShape(t, func() { IndexSelect(w, 0, []int{1, 5}) })
	if !strings.Contains(se.Error(), "index 5") || !strings.Contains(se.Error(), "size 5") {
		t.Errorf("IndexSelect error: %v", se)
	}
	mustPanicShape(t, func() { IndexAdd(New(5, 3), 0, []int{-1}, New(1, 3)) })
	mustPanicShape(t, func() { IndexAdd(New(5, 3), 0, []int{1}, New(2, 3)) })
}
