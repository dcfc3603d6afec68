package tensor

import (
	"fmt"

	"github.com/gocoop/gocoop/asm"
)

// Half-precision storage. A tensor normally holds float32; Half() gives one
// that stores IEEE binary16 (PyTorch's float16) instead, at half the memory,
// for frozen weights: the OpenAI CLIP release is float16, and keeping its
// frozen matrices so is exact. GoCoOp never computes in float16. The ops
// that read weights accept half tensors and widen them exactly to float32
// as they go: MatMul/MatMulT (the operand is widened as it is packed for
// the sgemm kernels: asm.SgemmHalfB), IndexSelect (the gathered rows), and
// Float, Clone, Contiguous, ToSlice, At and the views. Every other op
// panics with a *DTypeError saying to call Float first, and nothing writes
// into half storage.
//
// PrepackLinear goes one step further for a weight w [out, in] that only
// ever multiplies as x·wᵀ (a frozen Linear layer run forward): its float16
// elements are stored as the sgemm's B̃ micro-panels of wᵀ
// (asm.HalfPanels), so MatMulT(x, w, false, true) packs nothing (the
// AVX-512 kernels widen each panel row as they load it). Such a tensor is
// float16 to every other op: Float, Clone, ToSlice, At and HalfData unpack
// it, any other product widens it first, and it has no views.

// DType is a tensor's element storage type.
type DType uint8

const (
	Float32 DType = iota // the default; all arithmetic is float32
	Float16              // IEEE binary16 storage (Half)
)

// String returns the PyTorch-style name.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// DTypeError reports an op given a tensor of a storage type it does not
// take.
type DTypeError struct {
	Op    string
	DType DType
	Msg   string
}

func (e *DTypeError) Error() string {
	return fmt.Sprintf("tensor.%s: %v tensor: %s", e.Op, e.DType, e.Msg)
}

// DType returns t's storage type.
func (t *Tensor) DType() DType {
	if t.half != nil || t.panels != nil {
		return Float16
	}
	return Float32
}

// float32Only panics with a *DTypeError when t stores float16.
func (t *Tensor) float32Only(op string) {
	if t.DType() == Float16 {
		panic(&DTypeError{Op: op, DType: Float16, Msg: "this op computes on float32 storage; widen the tensor with Float() first (float16 storage is for frozen weights read by MatMul and IndexSelect)"})
	}
}

// FromHalf wraps data (binary16 bit patterns, no copy) as a contiguous
// float16 tensor of the given shape.
func FromHalf(data []uint16, shape ...int) *Tensor {
	n := checkShape("FromHalf", shape)
	if len(data) != n {
		panic(&ShapeError{Op: "FromHalf", Shapes: [][]int{cloneInts(shape)},
			Msg: fmt.Sprintf("needs %d elements, got %d", n, len(data))})
	}
	if data == nil {
		data = []uint16{}
	}
	return &Tensor{shape: cloneInts(shape), strides: contiguousStrides(shape), half: data}
}

// Half returns t with float16 storage: t itself if it has it, else a
// contiguous copy rounded to the nearest binary16 (ties to even, as
// PyTorch's .half(); beyond ±65504 gives ±Inf).
func (t *Tensor) Half() *Tensor {
	if t.DType() == Float16 {
		return t
	}
	t.host("Half")
	src := t.Contiguous()
	h := make([]uint16, src.Numel())
	asm.NarrowHalf(h, src.data[src.offset:src.offset+len(h)])
	return FromHalf(h, t.shape...)
}

// Float returns t with float32 storage: t itself if it has it, else a
// contiguous widened copy (exact).
func (t *Tensor) Float() *Tensor {
	if t.panels != nil {
		t = t.unpack()
	}
	if t.half == nil {
		return t
	}
	out := New(t.shape...)
	asm.WidenHalf(out.data, t.halfRowMajor())
	return out
}

// halfRowMajor returns t's float16 elements in row-major order: its
// storage when t is contiguous, else a gathered copy.
func (t *Tensor) halfRowMajor() []uint16 {
	n := t.Numel()
	if t.IsContiguous() {
		return t.half[t.offset : t.offset+n]
	}
	out := make([]uint16, n)
	idx := make([]int, len(t.shape))
	off := t.offset
	for i := range out {
		out[i] = t.half[off]
		for d := len(idx) - 1; d >= 0; d-- { // odometer, last dim fastest
			idx[d]++
			off += t.strides[d]
			if idx[d] < t.shape[d] {
				break
			}
			off -= t.strides[d] * t.shape[d]
			idx[d] = 0
		}
	}
	return out
}

// HalfData returns the binary16 storage of a contiguous float16 tensor
// (what a checkpoint writer stores; a row-major copy for a prepacked one).
// It panics for float32 tensors and views that are not contiguous.
func (t *Tensor) HalfData() []uint16 {
	if t.panels != nil {
		return t.unpack().half
	}
	if t.half == nil {
		panic(&DTypeError{Op: "HalfData", DType: Float32, Msg: "has no float16 storage; call Half() first"})
	}
	if !t.IsContiguous() {
		panic(&ShapeError{Op: "HalfData", Shapes: [][]int{t.Shape()},
			Msg: fmt.Sprintf("is not contiguous (strides %v)", t.strides)})
	}
	n := t.Numel()
	return t.half[t.offset : t.offset+n : t.offset+n]
}

// PrepackLinear returns w [out, in] as float16 prepacked for x·wᵀ, the
// product a Linear layer computes (MatMulT(x, w, false, true)): its
// elements rounded to float16 as Half rounds them (exact for a float16
// w), stored as asm.HalfPanels of wᵀ, the layout the sgemm kernels read,
// in the same memory as Half. Products then pack nothing and give the same
// bits as with w.Half(). For frozen weights on the CPU (like oneDNN's
// linear_prepack in PyTorch); see the package comment above for what
// else reads it.
func (t *Tensor) PrepackLinear() *Tensor {
	if t.panels != nil {
		return t
	}
	if len(t.shape) != 2 {
		panic(&ShapeError{Op: "PrepackLinear", Shapes: [][]int{t.Shape()}, Msg: "want a weight [out, in]"})
	}
	if !t.onHost() {
		panic(&DeviceError{Op: "PrepackLinear", Device: t.dev, Msg: "prepacked weights are for the CPU's sgemm"})
	}
	nOut, in := t.shape[0], t.shape[1]
	hp := asm.PackHalfPanels(true, in, nOut, t.Half().halfRowMajor(), in) // op(B) = wᵀ [in, out]
	return &Tensor{shape: cloneInts(t.shape), strides: contiguousStrides(t.shape), panels: hp}
}

// unpack returns a prepacked t as a contiguous float16 tensor.
func (t *Tensor) unpack() *Tensor {
	nOut, in := t.shape[0], t.shape[1]
	h := make([]uint16, nOut*in)
	t.panels.Unpack(true, h, in)
	return FromHalf(h, t.shape...)
}
