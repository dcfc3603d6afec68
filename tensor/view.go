package tensor

import "fmt"

// Views: new shape/strides/offset over the same storage. None of these
// copy data except Reshape when no strided view can express the result.

func (t *Tensor) view(shape, strides []int, offset int) *Tensor {
	if t.panels != nil {
		panic(&DTypeError{Op: "view", DType: Float16, Msg: "a prepacked weight (PrepackLinear) has no views; Float() unpacks it"})
	}
	return &Tensor{shape: shape, strides: strides, offset: offset, data: t.data, half: t.half, dev: t.dev, buf: t.buf}
}

// Reshape returns t with a new shape of the same numel; one dim may be -1
// (inferred). It is a view when the strides allow (always for contiguous t),
// otherwise a contiguous copy.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = t.inferShape(shape)
	if st, ok := viewStrides(t.shape, t.strides, shape); ok {
		return t.view(shape, st, t.offset)
	}
	c := t.Clone()
	c.shape = shape
	c.strides = contiguousStrides(shape)
	return c
}

func (t *Tensor) inferShape(shape []int) []int {
	shape = cloneInts(shape)
	infer := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(&ShapeError{Op: "Reshape", Shapes: [][]int{t.Shape(), shape}, Msg: "are incompatible: bad target dims"})
		default:
			known *= d
		}
	}
	n := t.Numel()
	if infer >= 0 && known != 0 && n%known == 0 {
		shape[infer] = n / known
		known = n
	}
	if known != n || (infer >= 0 && shape[infer] < 0) {
		panic(&ShapeError{Op: "Reshape", Shapes: [][]int{t.Shape(), shape},
			Msg: fmt.Sprintf("are incompatible: %d elements", n)})
	}
	return shape
}

// viewStrides finds strides that view (oldShape, oldStrides) as newShape
// without moving data, as PyTorch's computeStride: each run of old dims that
// is contiguous within itself must be split or merged into whole new dims.
func viewStrides(oldShape, oldStrides, newShape []int) ([]int, bool) {
	if numel(oldShape) == 0 || isContiguous(oldShape, oldStrides) {
		return contiguousStrides(newShape), true
	}
	newStrides := make([]int, len(newShape))
	viewD := len(newShape) - 1
	chunkBase := oldStrides[len(oldStrides)-1]
	tensorNumel, viewNumel := 1, 1
	for d := len(oldShape) - 1; d >= 0; d-- {
		tensorNumel *= oldShape[d]
		if d == 0 || (oldShape[d-1] != 1 && oldStrides[d-1] != tensorNumel*chunkBase) {
			for viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
				newStrides[viewD] = viewNumel * chunkBase
				viewNumel *= newShape[viewD]
				viewD--
			}
			if viewNumel != tensorNumel {
				return nil, false
			}
			if d > 0 {
				chunkBase = oldStrides[d-1]
				tensorNumel, viewNumel = 1, 1
			}
		}
	}
	return newStrides, viewD == -1
}

// Transpose swaps dims d0 and d1 (a view).
func (t *Tensor) Transpose(d0, d1 int) *Tensor {
	d0, d1 = t.axis("Transpose", d0), t.axis("Transpose", d1)
	sh, st := t.Shape(), t.Strides()
	sh[d0], sh[d1] = sh[d1], sh[d0]
	st[d0], st[d1] = st[d1], st[d0]
	return t.view(sh, st, t.offset)
}

// Permute reorders dims: result dim i is t's dim dims[i] (a view).
func (t *Tensor) Permute(dims ...int) *Tensor {
	r := len(t.shape)
	if len(dims) != r {
		panic(&ShapeError{Op: "Permute", Shapes: [][]int{t.Shape()}, Msg: fmt.Sprintf("cannot be permuted by %v", dims)})
	}
	seen := make([]bool, r)
	sh, st := make([]int, r), make([]int, r)
	for i, d := range dims {
		a := t.axis("Permute", d)
		if seen[a] {
			panic(&ShapeError{Op: "Permute", Shapes: [][]int{t.Shape()}, Msg: fmt.Sprintf("cannot be permuted by %v (repeated dim)", dims)})
		}
		seen[a] = true
		sh[i], st[i] = t.shape[a], t.strides[a]
	}
	return t.view(sh, st, t.offset)
}

// T transposes a 2-D tensor (a view).
func (t *Tensor) T() *Tensor {
	if len(t.shape) != 2 {
		panic(&ShapeError{Op: "T", Shapes: [][]int{t.Shape()}, Msg: "is not 2-D"})
	}
	return t.Transpose(0, 1)
}

// Slice returns elements [start, end) along dim (a view). Negative start or
// end count from the end of the dim.
func (t *Tensor) Slice(dim, start, end int) *Tensor {
	a := t.axis("Slice", dim)
	n := t.shape[a]
	s, e := start, end
	if s < 0 {
		s += n
	}
	if e < 0 {
		e += n
	}
	if s < 0 || e > n || s > e {
		panic(&ShapeError{Op: "Slice", Shapes: [][]int{t.Shape()},
			Msg: fmt.Sprintf("cannot be sliced [%d:%d] along dim %d of size %d", start, end, dim, n)})
	}
	sh := t.Shape()
	sh[a] = e - s
	return t.view(sh, t.Strides(), t.offset+s*t.strides[a])
}

// Index selects element i along dim and drops that dim (a view).
func (t *Tensor) Index(dim, i int) *Tensor {
	a := t.axis("Index", dim)
	n := t.shape[a]
	j := i
	if j < 0 {
		j += n
	}
	if j < 0 || j >= n {
		panic(&ShapeError{Op: "Index", Shapes: [][]int{t.Shape()},
			Msg: fmt.Sprintf("index %d out of range for dim %d of size %d", i, dim, n)})
	}
	sh := append(t.Shape()[:a:a], t.shape[a+1:]...)
	st := append(t.Strides()[:a:a], t.strides[a+1:]...)
	return t.view(sh, st, t.offset+j*t.strides[a])
}

// Expand broadcasts t to shape (a view with stride 0 on broadcast dims).
// New dims are added in front; a -1 keeps t's size.
func (t *Tensor) Expand(shape ...int) *Tensor {
	r, tr := len(shape), len(t.shape)
	bad := func() {
		panic(&ShapeError{Op: "Expand", Shapes: [][]int{t.Shape(), cloneInts(shape)}, Msg: "are incompatible: cannot expand the first to the second"})
	}
	if r < tr {
		bad()
	}
	sh, st := make([]int, r), make([]int, r)
	for i := 0; i < r; i++ {
		j := i - (r - tr)
		want := shape[i]
		if j < 0 {
			if want < 0 {
				bad()
			}
			sh[i] = want
			continue
		}
		have := t.shape[j]
		switch {
		case want == -1 || want == have:
			sh[i], st[i] = have, t.strides[j]
		case have == 1 && want >= 0:
			sh[i] = want
		default:
			bad()
		}
	}
	return t.view(sh, st, t.offset)
}

// Unsqueeze inserts a size-1 dim at position dim (in [-(rank+1), rank]).
func (t *Tensor) Unsqueeze(dim int) *Tensor {
	r := len(t.shape)
	a := dim
	if a < 0 {
		a += r + 1
	}
	if a < 0 || a > r {
		panic(&ShapeError{Op: "Unsqueeze", Shapes: [][]int{t.Shape()}, Msg: fmt.Sprintf("has no insertion point %d", dim)})
	}
	st := 1
	if a < r {
		st = t.strides[a] * t.shape[a]
	}
	sh := append(append(t.Shape()[:a:a], 1), t.shape[a:]...)
	sts := append(append(t.Strides()[:a:a], st), t.strides[a:]...)
	return t.view(sh, sts, t.offset)
}

// Squeeze removes dim, which must have size 1 (unlike PyTorch, a dim of
// another size is an error rather than a silent no-op).
func (t *Tensor) Squeeze(dim int) *Tensor {
	a := t.axis("Squeeze", dim)
	if t.shape[a] != 1 {
		panic(&ShapeError{Op: "Squeeze", Shapes: [][]int{t.Shape()}, Msg: fmt.Sprintf("has size %d at dim %d, not 1", t.shape[a], dim)})
	}
	sh := append(t.Shape()[:a:a], t.shape[a+1:]...)
	st := append(t.Strides()[:a:a], t.strides[a+1:]...)
	return t.view(sh, st, t.offset)
}
