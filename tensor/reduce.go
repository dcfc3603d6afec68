package tensor

import (
	"fmt"
	"math"
)

// Reductions. Sum and Max walk the input in its own memory order and
// accumulate into the output seen through stride-0 dims, so reducing a
// leading axis (bias gradients) streams rows with a vector add, and reducing
// the last axis folds each row into one float64 accumulator.

// Sum adds over axes (negative allowed; nil or empty means all dims). With
// keepDim the reduced dims stay as size 1.
func Sum(t *Tensor, axes []int, keepDim bool) *Tensor {
	return reduce("Sum", opAdd, 0, t, axes, keepDim)
}

// Mean averages over axes (as Sum).
func Mean(t *Tensor, axes []int, keepDim bool) *Tensor {
	out := reduce("Mean", opAdd, 0, t, axes, keepDim)
	cnt := t.Numel() / max(out.Numel(), 1)
	if out.Numel() == 0 {
		return out
	}
	scale := float32(1 / float64(cnt))
	if cnt == 0 {
		scale = float32(math.NaN())
	}
	if !out.onHost() {
		return MulScalar(out, scale)
	}
	binVS(opMul, 0, out.data, out.data, scale)
	return out
}

// Max takes the maximum over axes (as Sum); -Inf over an empty set.
func Max(t *Tensor, axes []int, keepDim bool) *Tensor {
	return reduce("Max", opMax, float32(math.Inf(-1)), t, axes, keepDim)
}

// reduce runs an accumulating op from init over the reduced axes. The only
// heap allocation (for rank <= maxLoopRank) is the output.
func reduce(name string, op binOp, init float32, t *Tensor, axes []int, keepDim bool) *Tensor {
	if !t.onHost() {
		return deviceReduce(name, op, t, axes, keepDim)
	}
	var redBuf [maxLoopRank]bool
	var kBuf [maxLoopRank]int
	red := reducedMask(name, redBuf[:0], t.shape, axes)
	kshape := kBuf[:0]
	for i, d := range t.shape {
		if red[i] {
			d = 1
		}
		kshape = append(kshape, d)
	}
	out := Full(init, kshape...)
	// out has size 1 on the reduced dims, so apply2 gives it stride 0
	// there: accumulation.
	o := out.operand()
	apply2(op, 0, t.shape, o, o, t.operand())
	if keepDim {
		return out
	}
	// Drop the reduced dims, reusing out's shape/strides storage.
	sh := out.shape[:0]
	for i, d := range kshape {
		if !red[i] {
			sh = append(sh, d)
		}
	}
	st := out.strides[:len(sh)]
	s := 1
	for i := len(sh) - 1; i >= 0; i-- {
		st[i] = s
		s *= sh[i]
	}
	out.shape, out.strides = sh[:len(sh):len(sh)], st
	return out
}

// reducedMask marks the axes to reduce; nil or empty axes mean all.
func reducedMask(op string, buf []bool, shape []int, axes []int) []bool {
	red := buf[:0]
	for range shape {
		red = append(red, len(axes) == 0)
	}
	if len(axes) == 0 {
		return red
	}
	for _, a := range axes {
		red[normAxis(op, shape, a)] = true
	}
	return red
}

// Argmax returns, for each position of the dims other than axis (in
// row-major order), the index along axis of the largest element; the first
// maximal index wins, as torch.argmax. NaNs are ignored.
func Argmax(t *Tensor, axis int) []int {
	t.host("Argmax")
	a := t.axis("Argmax", axis)
	n := t.shape[a]
	if n == 0 {
		panic(&ShapeError{Op: "Argmax", Shapes: [][]int{t.Shape()}, Msg: fmt.Sprintf("is empty along axis %d", axis)})
	}
	// Move axis last; walk the rest.
	perm := make([]int, 0, len(t.shape))
	for i := range t.shape {
		if i != a {
			perm = append(perm, i)
		}
	}
	v := t.Permute(append(perm, a)...)
	st := v.strides[len(v.strides)-1]
	out := make([]int, 0, t.Numel()/n)
	walkRows(v.shape, v.strides, v.strides, v.offset, 0, func(o, _ int) {
		best, bi := float32(math.Inf(-1)), 0
		for i := 0; i < n; i++ {
			if x := t.data[o+i*st]; x > best {
				best, bi = x, i
			}
		}
		out = append(out, bi)
	})
	return out
}

// SumTo sums t down to shape, the adjoint of broadcasting shape to t's
// shape (autograd uses it to reduce the gradient of a broadcast operand).
// shape must broadcast to t's shape. When t already has shape, SumTo returns
// t itself (no copy): callers that mutate the result must Clone it.
func SumTo(t *Tensor, shape []int) *Tensor {
	if SameShape(t.shape, shape) {
		return t
	}
	if !broadcastsTo(shape, t.shape) {
		panic(&ShapeError{Op: "SumTo", Shapes: [][]int{t.Shape(), cloneInts(shape)},
			Msg: "are incompatible: the second does not broadcast to the first"})
	}
	if !t.onHost() {
		return deviceSumTo(t, cloneInts(shape)) // a copy: shape must not escape on the host path
	}
	out := New(shape...)
	// apply2 gives out stride 0 on every dim it is broadcast along.
	o := out.operand()
	apply2(opAdd, 0, t.shape, o, o, t.operand())
	return out
}
