package tensor

import (
	"fmt"

	"github.com/gocoop/gocoop/asm"
)

// Concat joins tensors along dim; all other dims must match.
func Concat(ts []*Tensor, dim int) *Tensor {
	if len(ts) == 0 {
		panic(&ShapeError{Op: "Concat", Msg: "needs at least one tensor"})
	}
	first := ts[0]
	a := first.axis("Concat", dim)
	shape := first.Shape()
	total := 0
	onDevice := false
	for _, t := range ts {
		onDevice = onDevice || !t.onHost()
		ok := len(t.shape) == len(shape)
		for i := 0; ok && i < len(shape); i++ {
			ok = i == a || t.shape[i] == shape[i]
		}
		if !ok {
			panic(&ShapeError{Op: "Concat", Shapes: [][]int{first.Shape(), t.Shape()},
				Msg: fmt.Sprintf("differ outside dim %d", dim)})
		}
		total += t.shape[a]
	}
	shape[a] = total
	if onDevice {
		return deviceConcat(ts, a, shape)
	}
	for _, t := range ts {
		t.float32Only("Concat")
	}
	out := New(shape...)
	// Fast path: each input is a contiguous block of every outer row.
	outer := numel(shape[:a])
	inner := numel(shape[a+1:])
	allContig := true
	for _, t := range ts {
		allContig = allContig && t.IsContiguous()
	}
	if allContig {
		rowOut := total * inner
		at := 0
		for _, t := range ts {
			w := t.shape[a] * inner
			src := t.data[t.offset:]
			for o := 0; o < outer; o++ {
				copy(out.data[o*rowOut+at:o*rowOut+at+w], src[o*w:(o+1)*w])
			}
			at += w
		}
		return out
	}
	at := 0
	for _, t := range ts {
		out.Slice(a, at, at+t.shape[a]).CopyFrom(t)
		at += t.shape[a]
	}
	return out
}

// Stack joins equally shaped tensors along a new dim.
func Stack(ts []*Tensor, dim int) *Tensor {
	if len(ts) == 0 {
		panic(&ShapeError{Op: "Stack", Msg: "needs at least one tensor"})
	}
	us := make([]*Tensor, len(ts))
	for i, t := range ts {
		if !SameShape(t.shape, ts[0].shape) {
			panic(&ShapeError{Op: "Stack", Shapes: [][]int{ts[0].Shape(), t.Shape()}, Msg: "differ"})
		}
		us[i] = t.Unsqueeze(dim)
	}
	return Concat(us, dim)
}

// IndexSelect gathers entries idx along dim into a new tensor whose dim has
// size len(idx) (embedding lookup: IndexSelect(W, 0, ids)). Negative
// indices are errors; an out-of-range index panics with a *ShapeError
// naming the index and the dim size.
func IndexSelect(t *Tensor, dim int, idx []int) *Tensor {
	if t.half != nil && dim == 0 && len(t.shape) == 2 && t.IsContiguous() {
		// Embedding rows of a float16 table, widened into float32.
		n, w := t.shape[0], t.shape[1]
		checkIndices("IndexSelect", t.shape, dim, n, idx)
		out := New(len(idx), w)
		for i, j := range idx {
			asm.WidenHalf(out.data[i*w:(i+1)*w], t.half[t.offset+j*w:t.offset+(j+1)*w])
		}
		return out
	}
	if t.DType() == Float16 {
		t = t.Float()
	}
	a := t.axis("IndexSelect", dim)
	n := t.shape[a]
	checkIndices("IndexSelect", t.shape, dim, n, idx)
	if !t.onHost() {
		return deviceIndexSelect(t, a, idx)
	}
	shape := t.Shape()
	shape[a] = len(idx)
	out := New(shape...)
	if t.IsContiguous() {
		outer, inner := numel(shape[:a]), numel(shape[a+1:])
		src := t.data[t.offset:]
		for o := 0; o < outer; o++ {
			for i, j := range idx {
				copy(out.data[(o*len(idx)+i)*inner:(o*len(idx)+i+1)*inner], src[(o*n+j)*inner:(o*n+j+1)*inner])
			}
		}
		return out
	}
	for i, j := range idx {
		out.Index(a, i).CopyFrom(t.Index(a, j))
	}
	return out
}

// IndexAdd is the adjoint of IndexSelect: dst.Index(dim, idx[i]) +=
// src.Index(dim, i) for every i (repeated indices accumulate). src must have
// dst's shape except len(idx) at dim.
func IndexAdd(dst *Tensor, dim int, idx []int, src *Tensor) {
	a := dst.axis("IndexAdd", dim)
	n := dst.shape[a]
	want := dst.Shape()
	want[a] = len(idx)
	if !SameShape(want, src.shape) {
		panic(&ShapeError{Op: "IndexAdd", Shapes: [][]int{dst.Shape(), src.Shape()},
			Msg: fmt.Sprintf("are incompatible: src should be %v for %d indices along dim %d", want, len(idx), dim)})
	}
	checkIndices("IndexAdd", dst.shape, dim, n, idx)
	if !dst.onHost() || !src.onHost() {
		deviceIndexAdd(dst, a, idx, src)
		return
	}
	dst.float32Only("IndexAdd")
	src.float32Only("IndexAdd")
	if dst.IsContiguous() && src.IsContiguous() {
		outer, inner := numel(want[:a]), numel(want[a+1:])
		d, s := dst.data[dst.offset:], src.data[src.offset:]
		for o := 0; o < outer; o++ {
			for i, j := range idx {
				binVV(opAdd, 0, d[(o*n+j)*inner:(o*n+j+1)*inner], d[(o*n+j)*inner:], s[(o*len(idx)+i)*inner:])
			}
		}
		return
	}
	for i, j := range idx {
		dst.Index(a, j).AddInPlace(src.Index(a, i))
	}
}

func checkIndices(op string, shape []int, dim, n int, idx []int) {
	for i, j := range idx {
		if j < 0 || j >= n {
			panic(&ShapeError{Op: op, Shapes: [][]int{cloneInts(shape)},
				Msg: fmt.Sprintf("index %d (idx[%d]) out of range for dim %d of size %d", j, i, dim, n)})
		}
	}
}
