package tensor

import (
	"fmt"

	"github.com/gocoop/gocoop/asm"
)

// Tensor is a float32 N-d array, row-major with strides. Views (Reshape of a
// contiguous tensor, Transpose, Permute, Slice, Expand, Index) share storage.
// Ops panic with a *ShapeError naming both shapes on mismatch; use Catch to
// turn such a panic into an error at an API boundary.
//
// The zero-rank tensor (shape []) holds one element (see Scalar).
type Tensor struct {
	shape   []int
	strides []int // in elements; 0 for expanded (broadcast) dims
	offset  int
	data    []float32       // host storage; nil when the tensor lives on a device or stores float16
	half    []uint16        // host float16 storage (half.go), else nil
	panels  *asm.HalfPanels // host float16 storage prepacked for x·tᵀ (PrepackLinear), else nil
	dev     Device          // nil means CPU
	buf     Buffer          // device storage when dev is not CPU
}

// ---- construction ----

// New returns a zero-filled contiguous tensor of the given shape.
func New(shape ...int) *Tensor { return newTensor(shape, true) }

// empty is New without the zero fill (torch.empty): for an op's output that
// the op writes whole before anything reads it. A recycled buffer then keeps
// its old values until overwritten; test binaries fill every recycled buffer
// with NaN (recycle.go), so an op that reads what it has not written fails
// its tests.
func empty(shape ...int) *Tensor { return newTensor(shape, false) }

func newTensor(shape []int, zero bool) *Tensor {
	n := checkShape("New", shape)
	r := len(shape)
	meta := make([]int, 2*r) // shape and strides share one allocation
	sh, st := meta[:r:r], meta[r:]
	copy(sh, shape)
	s := 1
	for i := r - 1; i >= 0; i-- {
		st[i] = s
		s *= sh[i]
	}
	return &Tensor{shape: sh, strides: st, data: hostAlloc(n, zero)}
}

// Zeros is New.
func Zeros(shape ...int) *Tensor { return New(shape...) }

// Ones returns a tensor filled with 1.
func Ones(shape ...int) *Tensor { return Full(1, shape...) }

// Full returns a tensor filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := New(shape...)
	if v != 0 {
		fillSlice(t.data, v)
	}
	return t
}

// FromSlice wraps data (no copy) as a contiguous tensor of the given shape.
// It panics with a *ShapeError if len(data) differs from the shape's numel.
func FromSlice(data []float32, shape ...int) *Tensor {
	n := checkShape("FromSlice", shape)
	if len(data) != n {
		panic(&ShapeError{Op: "FromSlice", Shapes: [][]int{cloneInts(shape)},
			Msg: fmt.Sprintf("needs %d elements, got %d", n, len(data))})
	}
	return &Tensor{shape: cloneInts(shape), strides: contiguousStrides(shape), data: data}
}

// Scalar returns a rank-0 tensor holding v.
func Scalar(v float32) *Tensor {
	return &Tensor{shape: []int{}, strides: []int{}, data: []float32{v}}
}

// Arange returns [0, 1, ..., n-1] as a 1-D tensor.
func Arange(n int) *Tensor {
	t := New(n)
	for i := range t.data {
		t.data[i] = float32(i)
	}
	return t
}

// ZerosLike returns a zero tensor with t's shape (contiguous, on the CPU).
func ZerosLike(t *Tensor) *Tensor { return New(t.shape...) }

// ---- inspection ----

// Shape returns a copy of t's shape.
func (t *Tensor) Shape() []int { return cloneInts(t.shape) }

// Strides returns a copy of t's strides, in elements.
func (t *Tensor) Strides() []int { return cloneInts(t.strides) }

// Dim returns the size of dim i; negative i counts from the end.
func (t *Tensor) Dim(i int) int { return t.shape[t.axis("Dim", i)] }

// NDim returns the rank.
func (t *Tensor) NDim() int { return len(t.shape) }

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return numel(t.shape) }

// IsContiguous reports whether t's elements are laid out densely in
// row-major order (strides of size-1 dims are ignored).
func (t *Tensor) IsContiguous() bool { return isContiguous(t.shape, t.strides) }

// Data returns the contiguous storage t views, data[offset:offset+numel].
// Writing to it writes t. It panics if t is not contiguous or not on the CPU.
func (t *Tensor) Data() []float32 {
	t.host("Data")
	if !t.IsContiguous() {
		panic(&ShapeError{Op: "Data", Shapes: [][]int{t.Shape()},
			Msg: fmt.Sprintf("is not contiguous (strides %v); call Contiguous first", t.strides)})
	}
	n := t.Numel()
	return t.data[t.offset : t.offset+n : t.offset+n]
}

// ToSlice returns a fresh row-major copy of t's elements.
func (t *Tensor) ToSlice() []float32 {
	if t.DType() == Float16 {
		return t.Float().data
	}
	t.host("ToSlice")
	if t.IsContiguous() {
		n := t.Numel()
		return append([]float32(nil), t.data[t.offset:t.offset+n]...)
	}
	return t.Clone().data
}

// At returns the element at idx (one index per dim; negative counts from the end).
func (t *Tensor) At(idx ...int) float32 {
	if t.half != nil {
		return asm.HalfToFloat32(t.half[t.elemOffset("At", idx)])
	}
	if t.panels != nil { // [out, in], contiguous: element (o, i) is (i, o) of the panels' tᵀ
		off := t.elemOffset("At", idx)
		return asm.HalfToFloat32(t.panels.At(off%t.shape[1], off/t.shape[1]))
	}
	t.host("At")
	return t.data[t.elemOffset("At", idx)]
}

// Set writes v at idx.
func (t *Tensor) Set(v float32, idx ...int) {
	t.host("Set")
	t.data[t.elemOffset("Set", idx)] = v
}

// Item returns the single element of a tensor with numel 1.
func (t *Tensor) Item() float32 {
	t.host("Item")
	if t.Numel() != 1 {
		panic(&ShapeError{Op: "Item", Shapes: [][]int{t.Shape()}, Msg: "has more than one element"})
	}
	return t.data[t.offset]
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (t *Tensor) elemOffset(op string, idx []int) int {
	if len(idx) != len(t.shape) {
		panic(&ShapeError{Op: op, Shapes: [][]int{t.Shape()},
			Msg: fmt.Sprintf("needs %d indices, got %d", len(t.shape), len(idx))})
	}
	off := t.offset
	for d, i := range idx {
		n := t.shape[d]
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			panic(&ShapeError{Op: op, Shapes: [][]int{t.Shape()},
				Msg: fmt.Sprintf("index %d out of range for dim %d of size %d", idx[d], d, n)})
		}
		off += i * t.strides[d]
	}
	return off
}

// ---- copies and in-place ----

// Contiguous returns t itself if it is already contiguous, else a
// contiguous copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	return t.Clone()
}

// Clone returns a contiguous copy of t.
func (t *Tensor) Clone() *Tensor {
	if !t.onHost() {
		return deviceMap("Clone", "copy", t, 0)
	}
	if t.half != nil {
		return FromHalf(append([]uint16(nil), t.halfRowMajor()...), t.shape...)
	}
	if t.panels != nil {
		return t.unpack()
	}
	out := empty(t.shape...)
	if t.IsContiguous() {
		copy(out.data, t.data[t.offset:])
		return out
	}
	apply2(opCopy, 0, out.shape, out.operand(), out.operand(), t.operand())
	return out
}

// CopyFrom writes src, broadcast to t's shape, into t (which may be a view).
func (t *Tensor) CopyFrom(src *Tensor) { t.inPlace("CopyFrom", opCopy, 0, src) }

// Fill sets every element of t (which may be a view) to v.
func (t *Tensor) Fill(v float32) {
	t.host("Fill")
	if t.IsContiguous() {
		fillSlice(t.data[t.offset:t.offset+t.Numel()], v)
		return
	}
	apply2(opCopy, 0, t.shape, t.operand(), t.operand(), operand{data: []float32{v}})
}

// AddInPlace computes t += src with src broadcast to t's shape.
func (t *Tensor) AddInPlace(src *Tensor) { t.inPlace("AddInPlace", opAdd, 0, src) }

// AxpyInPlace computes t += alpha*src with src broadcast to t's shape.
func (t *Tensor) AxpyInPlace(alpha float32, src *Tensor) {
	t.inPlace("AxpyInPlace", opAxpy, alpha, src)
}

// ScaleInPlace computes t *= alpha.
func (t *Tensor) ScaleInPlace(alpha float32) {
	t.host("ScaleInPlace")
	if t.IsContiguous() {
		asm.Scale(alpha, t.data[t.offset:t.offset+t.Numel()])
		return
	}
	s := []float32{alpha}
	apply2(opMul, 0, t.shape, t.operand(), t.operand(), operand{data: s})
}

func (t *Tensor) inPlace(op string, k binOp, alpha float32, src *Tensor) {
	t.host(op)
	src.host(op)
	if !broadcastsTo(src.shape, t.shape) {
		panic(&ShapeError{Op: op, Shapes: [][]int{t.Shape(), src.Shape()},
			Msg: "are incompatible: the second does not broadcast to the first"})
	}
	apply2(k, alpha, t.shape, t.operand(), t.operand(), src.operand())
}

func (t *Tensor) operand() operand {
	t.float32Only("elementwise op")
	return operand{data: t.data, off: t.offset, shape: t.shape, strides: t.strides}
}

func fillSlice(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

func cloneInts(s []int) []int {
	out := make([]int, len(s))
	copy(out, s)
	return out
}
