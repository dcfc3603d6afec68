package tensor

import (
	"math"
	"testing"
)

// naiveReduce reduces t over axes with f64 arithmetic, keepDim shape.
func naiveReduce(t *Tensor, axes []int, kind string) ([]float64, []int) {
	red := reducedMask("test", nil, t.shape, axes)
	kshape := t.Shape()
	for i := range kshape {
		if red[i] {
			kshape[i] = 1
		}
	}
	out := make([]float64, numel(kshape))
	cnt := make([]int, len(out))
	if kind == "max" {
		for i := range out {
			out[i] = math.Inf(-1)
		}
	}
	kst := contiguousStrides(kshape)
	forEachIndex(t.shape, func(idx []int) {
		o := 0
		for i, v := range idx {
			if !red[i] {
				o += v * kst[i]
			}
		}
		v := float64(t.At(idx...))
		if kind == "max" {
			out[o] = math.Max(out[o], v)
		} else {
			out[o] += v
		}
		cnt[o]++
	})
	if kind == "mean" {
		for i := range out {
			out[i] /= float64(cnt[i])
		}
	}
	return out, kshape
}

func TestReductionsVsReference(t *testing.T) {
	x := randT(7, 3, 4, 5, 6)
	inputs := []struct {
		name string
		t    *Tensor
	}{
		{"contiguous", x},
		{"permuted", x.Permute(3, 1, 0, 2)},
		{"sliced", x.Slice(3, 1, 5)},
		{"expanded", randT(8, 1, 5, 1).Expand(3, 4, 5, 6)},
	}
	axesSets := [][]int{nil, {0}, {-1}, {1, 2}, {0, 3}, {0, 1, 2, 3}, {2}, {-3, -1}}
	for _, in := range inputs {
		for _, axes := range axesSets {
			for _, keep := range []bool{true, false} {
				for _, kind := range []string{"sum", "mean", "max"} {
					want, kshape := naiveReduce(in.t, axes, kind)
					var got *Tensor
					switch kind {
					case "sum":
						got = Sum(in.t, axes, keep)
					case "mean":
						got = Mean(in.t, axes, keep)
					default:
						got = Max(in.t, axes, keep)
					}
					shape := kshape
					if !keep {
						red := reducedMask("test", nil, in.t.shape, axes)
						shape = nil
						for i, d := range kshape {
							if !red[i] {
								shape = append(shape, d)
							}
						}
						if shape == nil {
							shape = []int{}
						}
					}
					assertClose(t, in.name+"/"+kind, got, want, shape, 1e-5)
				}
			}
		}
	}
}

func TestArgmax(t *testing.T) {
	x := FromSlice(f32s(
		1, 5, 5, 0,
		7, 2, 7, 3,
		-1, -1, -2, -3,
	), 3, 4)
	cases := []struct {
		t    *Tensor
		axis int
		want []int
	}{
		{x, 1, []int{1, 0, 0}}, // first max wins
		{x, -1, []int{1, 0, 0}},
		{x, 0, []int{1, 0, 1, 1}},
		{x.T(), 0, []int{1, 0, 0}},
		{x.Reshape(3, 2, 2), 1, []int{1, 0, 0, 1, 0, 0}},
	}
	for i, c := range cases {
		got := Argmax(c.t, c.axis)
		if len(got) != len(c.want) {
			t.Fatalf("case %d: %v, want %v", i, got, c.want)
		}
		for j := range got {
			if got[j] != c.want[j] {
				t.Fatalf("case %d: %v, want %v", i, got, c.want)
			}
		}
	}
}

func dot64(a, b *Tensor) float64 {
	x, y := a.ToSlice(), b.ToSlice()
	var s float64
	for i := range x {
		s += float64(x[i]) * float64(y[i])
	}
	return s
}

// TestSumToAdjoint checks ⟨Expand(x), y⟩ = ⟨x, SumTo(y)⟩ for many shape pairs.
func TestSumToAdjoint(t *testing.T) {
	cases := []struct{ small, big []int }{
		{[]int{3}, []int{4, 3}},
		{[]int{4, 1}, []int{2, 4, 3}},
		{[]int{2, 1, 3}, []int{2, 4, 3}},
		{[]int{1}, []int{2, 3, 4}},
		{[]int{}, []int{5, 2}},
		{[]int{1, 1, 3}, []int{3}}, // leading ones beyond the big rank
		{[]int{5, 1, 1}, []int{5, 6, 7}},
	}
	for i, c := range cases {
		x := randT(uint64(10+i), c.small...)
		y := randT(uint64(20+i), c.big...)
		big := c.big
		if len(c.small) > len(big) {
			big = append(make([]int, 0), c.small[:len(c.small)-len(big)]...)
			big = append(big, c.big...)
			y = y.Reshape(big...)
		}
		lhs := dot64(x.Expand(big...), y)
		s := SumTo(y, c.small)
		if !SameShape(s.Shape(), c.small) {
			t.Fatalf("case %d: SumTo shape %v, want %v", i, s.Shape(), c.small)
		}
		if rhs := dot64(x, s); math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
			t.Errorf("case %d: <Expand x, y> = %v, <x, SumTo y> = %v", i, lhs, rhs)
		}
	}
	// Also on a non-contiguous input, against Sum.
	y := randT(30, 6, 4, 5).Permute(1, 0, 2)
	assertClose(t, "SumTo transposed", SumTo(y, []int{4, 1, 5}), f64s(Sum(y, []int{1}, true).ToSlice()), []int{4, 1, 5}, 1e-6)
	if y2 := randT(1, 2, 3); SumTo(y2, []int{2, 3}) != y2 {
		t.Error("SumTo to the same shape returns its input")
	}
	mustPanicShape(t, func() { SumTo(New(2, 3), []int{4, 3}) })
}
