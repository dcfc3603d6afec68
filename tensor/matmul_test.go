package tensor

import (
	"fmt"
	"testing"
)

// naiveMatMul is a float64 reference for MatMulT using At.
func naiveMatMul(a, b *Tensor, ta, tb bool) ([]float64, []int) {
	na, nb := a.NDim(), b.NDim()
	m, k := a.shape[na-2], a.shape[na-1]
	if ta {
		m, k = k, m
	}
	n := b.shape[nb-1]
	if tb {
		n = b.shape[nb-2]
	}
	bs, _ := BroadcastShapes(a.shape[:na-2], b.shape[:nb-2])
	shape := append(append([]int{}, bs...), m, n)
	var out []float64
	bidx := func(t *Tensor, idx []int, i, j int) float64 {
		r := t.NDim() - 2
		full := make([]int, r+2)
		for d := 0; d < r; d++ {
			if t.shape[d] != 1 {
				full[d] = idx[len(idx)-r+d]
			}
		}
		full[r], full[r+1] = i, j
		return float64(t.At(full...))
	}
	forEachIndex(shape, func(idx []int) {
		i, j := idx[len(idx)-2], idx[len(idx)-1]
		bi := idx[:len(idx)-2]
		var s float64
		for p := 0; p < k; p++ {
			var x, y float64
			if ta {
				x = bidx(a, bi, p, i)
			} else {
				x = bidx(a, bi, i, p)
			}
			if tb {
				y = bidx(b, bi, j, p)
			} else {
				y = bidx(b, bi, p, j)
			}
			s += x * y
		}
		out = append(out, s)
	})
	return out, shape
}

func TestMatMulVsReference(t *testing.T) {
	big := randT(40, 3, 7, 9)
	cases := []struct {
		name   string
		a, b   *Tensor
		ta, tb bool
	}{
		{"2d", randT(1, 5, 7), randT(2, 7, 3), false, false},
		{"transB", randT(1, 5, 7), randT(2, 3, 7), false, true},
		{"transA", randT(1, 7, 5), randT(2, 7, 3), true, false},
		{"both", randT(1, 7, 5), randT(2, 3, 7), true, true},
		{"viewA.T", randT(1, 7, 5).T(), randT(2, 7, 3), false, false},
		{"viewB.T+transB", randT(1, 5, 7), randT(2, 7, 3).T(), false, true},
		{"batched", randT(1, 4, 5, 7), randT(2, 4, 7, 3), false, false},
		{"broadcastB", randT(1, 2, 4, 5, 7), randT(2, 7, 3), false, false},
		{"broadcastA", randT(1, 5, 7), randT(2, 2, 4, 7, 3), false, false},
		{"broadcastMid", randT(1, 2, 1, 5, 7), randT(2, 1, 4, 7, 3), false, false},
		{"expandedBatch", randT(1, 1, 5, 7).Expand(4, 5, 7), randT(2, 4, 7, 3), false, false},
		{"headsView", randT(1, 2, 5, 4, 6).Permute(0, 2, 1, 3), randT(2, 2, 5, 4, 6).Permute(0, 2, 1, 3), false, true},
		{"slicedCols", big.Slice(2, 2, 8), randT(2, 3, 6, 4), false, false},
		{"slicedRows", big.Slice(1, 1, 6), randT(2, 9, 4), false, false},
		{"strided both dims (copy)", randT(1, 8, 10).Slice(0, 0, 8).Permute(1, 0).Slice(0, 1, 9).Transpose(0, 1).Reshape(8, 8).Slice(1, 0, 4), randT(2, 4, 3), false, false},
		{"expanded matrix (copy)", randT(1, 1, 7).Expand(5, 7), randT(2, 7, 3), false, false},
		{"rank11", randT(1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 3, 4).Permute(8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 10), randT(2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 4, 2), false, false},
		{"m=1", randT(1, 1, 7), randT(2, 7, 3), false, false},
		{"n=1", randT(1, 5, 7), randT(2, 7, 1), false, false},
		{"k=0", New(5, 0), New(0, 3), false, false},
		{"large", randT(1, 70, 130), randT(2, 130, 90), false, false},
	}
	for _, c := range cases {
		want, shape := naiveMatMul(c.a, c.b, c.ta, c.tb)
		got := MatMulT(c.a, c.b, c.ta, c.tb)
		assertClose(t, c.name, got, want, shape, 1e-5)
		if !c.ta && !c.tb {
			assertClose(t, c.name+"/MatMul", MatMul(c.a, c.b), want, shape, 1e-5)
		}
	}
	mustPanicShape(t, func() { MatMul(New(3), New(3, 2)) })
	mustPanicShape(t, func() { MatMul(New(2, 2, 3), New(3, 3, 2)) })
}

// TestMatMulNoCopy checks that transposed views reach asm without a copy:
// only the output is allocated.
func TestMatMulNoCopy(t *testing.T) {
	// Layouts asm takes as they are.
	x := randT(1, 4, 6, 8)
	for _, v := range []*Tensor{x, x.Transpose(1, 2), x.Slice(2, 1, 7), x.Slice(1, 2, 5).Transpose(-1, -2), x.Permute(1, 0, 2)} {
		if _, _, ok := matLayout(v); !ok {
			t.Errorf("matLayout rejects a view with shape %v strides %v", v.shape, v.strides)
		}
	}
	if _, _, ok := matLayout(randT(1, 1, 8).Expand(4, 8)); ok {
		t.Error("matLayout must reject a stride-0 matrix")
	}
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	a := randT(1, 64, 32)
	b := randT(2, 48, 32)
	base := testing.AllocsPerRun(5, func() { MatMulT(a, b, false, true) })
	bt := b.T()
	viewed := testing.AllocsPerRun(5, func() { MatMul(a, bt) })
	if viewed > base {
		t.Errorf("MatMul(a, b.T()) allocates %v, MatMulT %v: the view was copied", viewed, base)
	}
	if d := MaxAbsDiff(MatMul(a, b.T()), MatMulT(a, b, false, true)); d != 0 {
		t.Errorf("view and flag paths differ by %g", d)
	}
}

func ExampleMatMul() {
	a := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := FromSlice([]float32{1, 0, 0, 1, 1, 1}, 3, 2)
	fmt.Println(MatMul(a, b))
	// aᵀ·a via a transposed view: no copy, just a trans flag for asm.
	fmt.Println(MatMul(a.T(), a))
	// Output:
	// tensor([[ 4.,  5.],
	//         [10., 11.]])
	// tensor([[17., 22., 27.],
	//         [22., 29., 36.],
	//         [27., 36., 45.]])
}
