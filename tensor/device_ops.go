package tensor

import "fmt"

// Device kernels: the optional part of the backend seam (device.go) that
// runs the elementwise ops, reductions, softmax and layer norm on a device.
// Each op's CPU code stays the one reference; on a device tensor the op
// calls its Kernels method instead, with the same shapes and broadcasting,
// and the backend's tests compare the two (docs/cuda.md).

// Kernels is what a Backend implements to run more than MatMul. Buffers
// handed to it are the backend's own; out buffers are contiguous and sized
// for the op's result.
type Kernels interface {
	// Alloc returns n zeroed float32 elements of device memory.
	Alloc(n int) (Buffer, error)
	// Elementwise sets out (contiguous over shape) elementwise. Binary ops
	// ("add", "sub", "mul", "div", "max") read a and b; with b.Buf nil
	// they take s as b (AddScalar, MulScalar). Unary ops ("neg", "exp",
	// "log", "sqrt", "tanh", "sigmoid", "relu", "square", "copy") read a.
	// Operand strides are over shape (0 on broadcast dims).
	Elementwise(op string, shape []int, out Buffer, a, b Operand, s float32) error
	// Reduce folds a ("sum" or "max") over the dims of shape marked in red
	// into out, contiguous over shape with the reduced dims of size 1.
	Reduce(op string, shape []int, red []bool, out Buffer, a Operand) error
	// Rows runs "softmax" or "logsoftmax" on rows contiguous rows of n
	// elements of a (from aOff) into out.
	Rows(op string, rows, n int, out Buffer, a Buffer, aOff int) error
	// LayerNorm normalizes rows contiguous rows of d elements of x (from
	// xOff) into y, writing each row's mean and rstd; w and b (d elements
	// each, from their offsets) may have a nil Buf (1 and 0).
	LayerNorm(rows, d int, eps float32, y, mean, rstd Buffer, x Buffer, xOff int, w, b Operand) error
}

// Operand is a strided view of device memory: element (i₀, i₁, ...) is at
// Off + Σ iₖ·Strides[k].
type Operand struct {
	Buf     Buffer
	Off     int
	Strides []int
}

func (op binOp) deviceName() string {
	return [...]string{opAdd: "add", opSub: "sub", opMul: "mul", opDiv: "div", opMax: "max", opCopy: "copy", opAxpy: "axpy"}[op]
}

func (op unOp) deviceName() string {
	return [...]string{opNeg: "neg", opExp: "exp", opLog: "log", opSqrt: "sqrt", opTanh: "tanh", opSigmoid: "sigmoid", opRelu: "relu", opSquare: "square"}[op]
}

// deviceKernels returns the Kernels of the device all ts live on; it panics
// with a *DeviceError for mixed devices or a backend without kernels.
func deviceKernels(name string, ts ...*Tensor) Kernels {
	dev := ts[0].Device()
	for _, t := range ts[1:] {
		if t != nil && t.Device() != dev {
			panic(&DeviceError{Op: name, Device: dev, Msg: fmt.Sprintf("operands on different devices (%v and %v); move one with To", dev, t.Device())})
		}
	}
	be := backendFor(dev)
	if be == nil {
		panic(&DeviceError{Op: name, Device: dev, Msg: "no backend registered"})
	}
	k, ok := be.(Kernels)
	if !ok {
		panic(&DeviceError{Op: name, Device: dev, Msg: "op not supported there; move it with To(tensor.CPU) first (no implicit transfers)"})
	}
	return k
}

// deviceNew allocates a contiguous device tensor of shape.
func deviceNew(name string, k Kernels, dev Device, shape []int) *Tensor {
	buf, err := k.Alloc(numel(shape))
	if err != nil {
		panic(&DeviceError{Op: name, Device: dev, Msg: "allocating output: " + err.Error()})
	}
	return &Tensor{shape: cloneInts(shape), strides: contiguousStrides(shape), dev: dev, buf: buf}
}

func deviceFail(name string, dev Device, err error) {
	if err != nil {
		panic(&DeviceError{Op: name, Device: dev, Msg: err.Error()})
	}
}

// deviceOperand is t seen over shape (t broadcasts to it): strides aligned
// to shape's last dims, 0 where t has size 1 or no dim.
func (t *Tensor) deviceOperand(shape []int) Operand {
	st := make([]int, len(shape))
	off := len(shape) - len(t.shape)
	for i, d := range t.shape {
		if d != 1 {
			st[off+i] = t.strides[i]
		}
	}
	return Operand{Buf: t.buf, Off: t.offset, Strides: st}
}

func deviceBinary(name string, op binOp, a, b *Tensor) *Tensor {
	k := deviceKernels(name, a, b)
	var buf [maxLoopRank]int
	shape := broadcast(name, buf[:0], a.shape, b.shape)
	out := deviceNew(name, k, a.Device(), shape)
	if out.Numel() > 0 {
		deviceFail(name, out.dev, k.Elementwise(op.deviceName(), shape, out.buf, a.deviceOperand(shape), b.deviceOperand(shape), 0))
	}
	return out
}

// deviceMap runs a unary op (or a binary op with scalar s) on a.
func deviceMap(name, op string, a *Tensor, s float32) *Tensor {
	k := deviceKernels(name, a)
	out := deviceNew(name, k, a.Device(), a.shape)
	if out.Numel() > 0 {
		deviceFail(name, out.dev, k.Elementwise(op, a.shape, out.buf, a.deviceOperand(a.shape), Operand{}, s))
	}
	return out
}

func deviceReduce(name string, op binOp, t *Tensor, axes []int, keepDim bool) *Tensor {
	k := deviceKernels(name, t)
	red := reducedMask(name, nil, t.shape, axes)
	kshape, outShape := make([]int, len(t.shape)), []int{}
	for i, d := range t.shape {
		if red[i] {
			d = 1
		} else {
			outShape = append(outShape, d)
		}
		kshape[i] = d
	}
	if keepDim {
		outShape = kshape
	}
	out := deviceNew(name, k, t.Device(), outShape)
	if out.Numel() > 0 {
		deviceFail(name, out.dev, k.Reduce(map[binOp]string{opAdd: "sum", opMax: "max"}[op], t.shape, red, out.buf, t.deviceOperand(t.shape)))
	}
	return out
}

// deviceRows runs softmax or log-softmax along the last axis of t.
func deviceRows(name string, t *Tensor, axis int) *Tensor {
	k := deviceKernels(name, t)
	if t.axis(name, axis) != len(t.shape)-1 {
		panic(&DeviceError{Op: name, Device: t.Device(), Msg: "only the last axis is supported on devices"})
	}
	t = t.Contiguous()
	out := deviceNew(name, k, t.Device(), t.shape)
	if n := t.shape[len(t.shape)-1]; out.Numel() > 0 {
		op := map[string]string{"Softmax": "softmax", "LogSoftmax": "logsoftmax"}[name]
		deviceFail(name, out.dev, k.Rows(op, out.Numel()/n, n, out.buf, t.buf, t.offset))
	}
	return out
}

func deviceLayerNorm(t, weight, bias *Tensor, eps float32) (y, mean, rstd *Tensor) {
	const name = "LayerNorm"
	k := deviceKernels(name, t, weight, bias)
	if len(t.shape) == 0 {
		panic(&ShapeError{Op: name, Shapes: [][]int{t.Shape()}, Msg: "has no last axis"})
	}
	d := t.shape[len(t.shape)-1]
	param := func(p *Tensor) Operand {
		if p == nil {
			return Operand{}
		}
		if !SameShape(p.shape, []int{d}) {
			panic(&ShapeError{Op: name, Shapes: [][]int{t.Shape(), p.Shape()}, Msg: "weight and bias must have shape [D]"})
		}
		p = p.Contiguous()
		return Operand{Buf: p.buf, Off: p.offset, Strides: []int{1}}
	}
	w, b := param(weight), param(bias)
	t = t.Contiguous()
	y = deviceNew(name, k, t.Device(), t.shape)
	mean = deviceNew(name, k, t.Device(), t.shape[:len(t.shape)-1])
	rstd = deviceNew(name, k, t.Device(), t.shape[:len(t.shape)-1])
	if y.Numel() > 0 {
		deviceFail(name, y.dev, k.LayerNorm(mean.Numel(), d, eps, y.buf, mean.buf, rstd.buf, t.buf, t.offset, w, b))
	}
	return y, mean, rstd
}

// BatchedSgemm is what a Backend implements to run a batched MatMul in one
// call: item i reads a at aOff + i·strideA and b at bOff + i·strideB (a
// stride may be 0: a broadcast operand) and writes c at cOff + i·strideC.
type BatchedSgemm interface {
	SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a Buffer, aOff, lda, strideA int, b Buffer, bOff, ldb, strideB int, beta float32, c Buffer, cOff, ldc, strideC, batch int) error
}

// deviceAlloc returns n zeroed elements on be's device (uploading zeros
// when the backend has no Kernels).
func deviceAlloc(be Backend, n int) (Buffer, error) {
	if k, ok := be.(Kernels); ok {
		return k.Alloc(n)
	}
	return be.Upload(make([]float32, n))
}

// uniformBatch reports whether the batch items of a and b (batch shape bs,
// as matmulDevice walks them) sit at constant strides, and returns them.
func uniformBatch(a, b *Tensor, bs []int) (sa, sb int, ok bool) {
	r := len(bs)
	stride := func(t *Tensor) (int, bool) {
		// Linear in the flat item index: each dim's stride is the next
		// dim's stride times its size (dims of size 1 do not matter).
		s, inner := 0, -1
		for i := r - 1; i >= 0; i-- {
			if bs[i] == 1 {
				continue
			}
			st := batchStride(t, i, r)
			if inner < 0 {
				s, inner = st, st*bs[i]
				continue
			}
			if st != inner {
				return 0, false
			}
			inner = st * bs[i]
		}
		return s, true
	}
	sa, okA := stride(a)
	sb, okB := stride(b)
	return sa, sb, okA && okB
}

// DeviceBuffer returns t's device storage and the offset of its first
// element, or nil on the CPU: for backends' own ops on tensors.
func (t *Tensor) DeviceBuffer() (Buffer, int) { return t.buf, t.offset }

// OnDevice wraps a backend's buffer (contiguous, at least numel(shape)
// elements) as a tensor on dev.
func OnDevice(dev Device, buf Buffer, shape ...int) *Tensor {
	n := checkShape("OnDevice", shape)
	if dev == nil || dev == CPU || buf == nil || buf.Len() < n {
		panic(&DeviceError{Op: "OnDevice", Device: dev, Msg: fmt.Sprintf("needs a device buffer of at least %d elements", n)})
	}
	return &Tensor{shape: cloneInts(shape), strides: contiguousStrides(shape), dev: dev, buf: buf}
}
