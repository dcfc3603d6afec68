package tensor

import "fmt"

// Device kernels: the optional part of the backend seam (device.go) that
// runs the elementwise ops, reductions, softmax and layer norm on a device.
// Each op's CPU code stays the one reference; on a device tensor the op
// calls its Kernels method instead, with the same shapes and broadcasting,
// and the backend's tests compare the two (docs/cuda.md).

// Kernels is what a Backend implements to run more than MatMul: the
// generic ops (elementwise, reductions, row ops, gathers) that package
// tensor dispatches to, and the fused model kernels that autograd and
// nn/optim call on device tensors (layer norm backward, cross-entropy, the
// optimizer updates). Buffers handed to it are the backend's own; out
// buffers are contiguous and sized for the op's result unless an Operand
// says otherwise. An Operand with nil Strides is contiguous from its Off.
type Kernels interface {
	// Alloc returns n zeroed float32 elements of device memory.
	Alloc(n int) (Buffer, error)
	// Elementwise sets out (strided over shape, like the operands: a fresh
	// contiguous result, or a view for Concat and Copy; it may alias a)
	// elementwise. Binary ops ("add", "sub", "mul", "div", "max", "gt" (1
	// where a > b, else 0), "quickgelu_grad" (b·QuickGELU'(a))) read a and
	// b; with b.Buf nil they take s as b (AddScalar, MulScalar,
	// MaximumScalar, GreaterThan). Unary ops ("neg", "exp", "log", "sqrt",
	// "tanh", "sigmoid", "relu", "square", "quickgelu", "copy") read a.
	// Operand strides are over shape (0 on broadcast dims).
	Elementwise(op string, shape []int, out, a, b Operand, s float32) error
	// Reduce folds a ("sum" or "max") over the dims of shape marked in red
	// into out, contiguous over shape with the reduced dims of size 1.
	Reduce(op string, shape []int, red []bool, out Buffer, a Operand) error
	// Rows runs "softmax" or "logsoftmax" on rows contiguous rows of n
	// elements of a (from aOff) into out.
	Rows(op string, rows, n int, out Buffer, a Buffer, aOff int) error
	// MaskedSoftmax sets out to softmax(scale·a + mask) over rows
	// contiguous rows of n elements of a (from aOff): with causal, row r is
	// query r mod lq and its keys j > r mod lq are −∞ (MaskedSoftmax).
	MaskedSoftmax(rows, lq, n int, scale float32, causal bool, out Buffer, a Buffer, aOff int) error
	// LayerNorm normalizes rows contiguous rows of d elements of x (from
	// xOff) into y, writing each row's mean and rstd; w and b (d elements
	// each, from their offsets) may have a nil Buf (1 and 0).
	LayerNorm(rows, d int, eps float32, y, mean, rstd Buffer, x Buffer, xOff int, w, b Operand) error
	// LayerNormBackward sets dx (rows of d) and dw, db (d each) from the
	// upstream gradient dy and x (rows of d), LayerNorm's mean and rstd
	// (rows) and w (d; a nil Buf is ones), all contiguous.
	LayerNormBackward(rows, d int, dx, dw, db Buffer, dy, x, mean, rstd, w Operand) error
	// Gather copies row idx[i] of src (rows of d elements) to row i of out.
	Gather(d int, out, src Operand, idx []int) error
	// ScatterAdd adds row i of src to row idx[i] of dst (rows of d
	// elements; repeated indices accumulate).
	ScatterAdd(d int, dst, src Operand, idx []int) error
	// CrossEntropy sets loss[r] = logsumexp(x_r) − x_r[labels[r]] for rows
	// contiguous rows of n logits x.
	CrossEntropy(rows, n int, loss Buffer, logits Operand, labels []int) error
	// CrossEntropyBackward sets dx_r = (softmax(x_r) − onehot(labels[r]))·scale.
	CrossEntropyBackward(rows, n int, scale float32, dx Buffer, logits Operand, labels []int) error
	// SGDStep updates n contiguous elements of p in place as optim.SGD:
	// g' = g + wd·p; with momentum, buf = g' on the first step, else
	// momentum·buf + (1−dampening)·g', and g' = g' + momentum·buf
	// (nesterov) or buf; then p −= lr·g'. buf is unused without momentum.
	SGDStep(n int, lr, momentum, dampening, wd float32, nesterov, first bool, p, g, buf Operand) error
	// AdamWStep is step t (from 1) of optim.AdamW on n contiguous elements
	// of p with moments m and v, all updated in place.
	AdamWStep(n int, lr, beta1, beta2, eps, wd float32, t int, p, g, m, v Operand) error
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
	return [...]string{opNeg: "neg", opExp: "exp", opLog: "log", opSqrt: "sqrt", opTanh: "tanh", opSigmoid: "sigmoid", opRelu: "relu", opSquare: "square", opQuickGELU: "quickgelu"}[op]
}

// deviceKernels returns the Kernels of the device all ts live on; it panics
// with a *DeviceError for mixed devices or a backend without kernels.
func deviceKernels(name string, ts ...*Tensor) Kernels {
	k, err := kernelsOf(name, ts...)
	if err != nil {
		panic(err)
	}
	return k
}

func kernelsOf(name string, ts ...*Tensor) (Kernels, *DeviceError) {
	dev := ts[0].Device()
	for _, t := range ts[1:] {
		if t != nil && t.Device() != dev {
			return nil, &DeviceError{Op: name, Device: dev, Msg: fmt.Sprintf("operands on different devices (%v and %v); move one with To", dev, t.Device())}
		}
	}
	be := backendFor(dev)
	if be == nil {
		return nil, &DeviceError{Op: name, Device: dev, Msg: "no backend registered"}
	}
	k, ok := be.(Kernels)
	if !ok {
		return nil, &DeviceError{Op: name, Device: dev, Msg: "op not supported there; move it with To(tensor.CPU) first (no implicit transfers)"}
	}
	return k, nil
}

// KernelsOf returns the Kernels of the device that every non-nil t lives
// on, for the fused model kernels that autograd and nn/optim call on device
// tensors (hand them t.DeviceOperand()). It is an error (a *DeviceError)
// for host tensors, mixed devices or a backend without Kernels.
func KernelsOf(ts ...*Tensor) (Kernels, error) {
	if ts[0].onHost() {
		return nil, &DeviceError{Op: "KernelsOf", Device: CPU, Msg: "host tensors run the CPU code, not device kernels"}
	}
	k, err := kernelsOf("KernelsOf", ts...)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// DeviceOperand returns t's device storage as an Operand (its offset and
// strides), for backends' and the fused kernels' callers.
func (t *Tensor) DeviceOperand() Operand {
	return Operand{Buf: t.buf, Off: t.offset, Strides: cloneInts(t.strides)}
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

// span is t's storage from its offset, for kernels that read contiguous
// rows (t must be contiguous).
func (t *Tensor) span() Operand { return Operand{Buf: t.buf, Off: t.offset} }

func deviceBinary(name, op string, a, b *Tensor) *Tensor {
	k := deviceKernels(name, a, b)
	var buf [maxLoopRank]int
	shape := broadcast(name, buf[:0], a.shape, b.shape)
	out := deviceNew(name, k, a.Device(), shape)
	if out.Numel() > 0 {
		deviceFail(name, out.dev, k.Elementwise(op, shape, out.deviceOperand(shape), a.deviceOperand(shape), b.deviceOperand(shape), 0))
	}
	return out
}

// deviceMap runs a unary op (or a binary op with scalar s) on a.
func deviceMap(name, op string, a *Tensor, s float32) *Tensor {
	k := deviceKernels(name, a)
	out := deviceNew(name, k, a.Device(), a.shape)
	if out.Numel() > 0 {
		deviceFail(name, out.dev, k.Elementwise(op, a.shape, out.deviceOperand(a.shape), a.deviceOperand(a.shape), Operand{}, s))
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

// ZerosOn returns a zero-filled contiguous tensor of shape on dev (New on
// the CPU).
func ZerosOn(dev Device, shape ...int) *Tensor {
	if dev == nil || dev == CPU {
		return New(shape...)
	}
	checkShape("ZerosOn", shape)
	k := deviceKernels("ZerosOn", &Tensor{dev: dev})
	return deviceNew("ZerosOn", k, dev, shape)
}

// FullOn returns a tensor of shape filled with v on dev (Full on the CPU).
func FullOn(dev Device, v float32, shape ...int) *Tensor {
	t := ZerosOn(dev, shape...)
	if v == 0 || t.onHost() {
		if v != 0 {
			fillSlice(t.data, v)
		}
		return t
	}
	if t.Numel() > 0 {
		k := deviceKernels("FullOn", t)
		o := t.deviceOperand(t.shape)
		deviceFail("FullOn", t.dev, k.Elementwise("add", t.shape, o, o, Operand{}, v))
	}
	return t
}

// Copy writes src, broadcast to dst's shape, into dst (which may be a view),
// as dst.CopyFrom on any device: a src on another device than dst is moved
// to dst's device first, an explicit transfer (torch's dst.copy_(src)).
func Copy(dst, src *Tensor) {
	if src.Device() != dst.Device() {
		moved, err := src.To(dst.Device())
		if err != nil {
			panic(&DeviceError{Op: "Copy", Device: dst.Device(), Msg: err.Error()})
		}
		src = moved
	}
	if dst.onHost() {
		dst.CopyFrom(src)
		return
	}
	if !broadcastsTo(src.shape, dst.shape) {
		panic(&ShapeError{Op: "Copy", Shapes: [][]int{dst.Shape(), src.Shape()},
			Msg: "are incompatible: the second does not broadcast to the first"})
	}
	k := deviceKernels("Copy", dst, src)
	if dst.Numel() > 0 {
		deviceFail("Copy", dst.dev, k.Elementwise("copy", dst.shape, dst.deviceOperand(dst.shape), src.deviceOperand(dst.shape), Operand{}, 0))
	}
}

// deviceConcat writes each of ts into its slice of a new device tensor of
// shape along axis a (strided copies).
func deviceConcat(ts []*Tensor, a int, shape []int) *Tensor {
	const name = "Concat"
	k := deviceKernels(name, ts...)
	out := deviceNew(name, k, ts[0].Device(), shape)
	at := 0
	for _, t := range ts {
		n := t.shape[a]
		if v := out.Slice(a, at, at+n); v.Numel() > 0 {
			deviceFail(name, out.dev, k.Elementwise("copy", v.shape, v.deviceOperand(v.shape), t.deviceOperand(v.shape), Operand{}, 0))
		}
		at += n
	}
	return out
}

// deviceIndexSelect gathers rows idx along axis a of t (made contiguous):
// one Gather of inner-wide rows per outer index.
func deviceIndexSelect(t *Tensor, a int, idx []int) *Tensor {
	const name = "IndexSelect"
	k := deviceKernels(name, t)
	t = t.Contiguous()
	shape := t.Shape()
	n := shape[a]
	shape[a] = len(idx)
	out := deviceNew(name, k, t.Device(), shape)
	outer, inner := numel(shape[:a]), numel(shape[a+1:])
	if out.Numel() == 0 {
		return out
	}
	for o := range outer {
		deviceFail(name, out.dev, k.Gather(inner,
			Operand{Buf: out.buf, Off: o * len(idx) * inner}, Operand{Buf: t.buf, Off: t.offset + o*n*inner}, idx))
	}
	return out
}

// deviceIndexAdd is IndexAdd on a contiguous device dst.
func deviceIndexAdd(dst *Tensor, a int, idx []int, src *Tensor) {
	const name = "IndexAdd"
	k := deviceKernels(name, dst, src)
	if !dst.IsContiguous() {
		panic(&DeviceError{Op: name, Device: dst.dev, Msg: "the destination must be contiguous on devices"})
	}
	src = src.Contiguous()
	n := dst.shape[a]
	outer, inner := numel(dst.shape[:a]), numel(dst.shape[a+1:])
	if src.Numel() == 0 {
		return
	}
	for o := range outer {
		deviceFail(name, dst.dev, k.ScatterAdd(inner,
			Operand{Buf: dst.buf, Off: dst.offset + o*n*inner}, Operand{Buf: src.buf, Off: src.offset + o*len(idx)*inner}, idx))
	}
}

// deviceSumTo sums t over the dims that shape broadcasts along.
func deviceSumTo(t *Tensor, shape []int) *Tensor {
	lead := len(t.shape) - len(shape)
	var axes []int
	for i, d := range t.shape {
		if i < lead || (shape[i-lead] == 1 && d != 1) {
			axes = append(axes, i)
		}
	}
	if len(axes) == 0 {
		return t.Reshape(shape...)
	}
	return deviceReduce("SumTo", opAdd, t, axes, true).Reshape(shape...)
}

// deviceMaskedSoftmax is MaskedSoftmax on a device (t has rank >= 2).
func deviceMaskedSoftmax(t *Tensor, scale float32, causal bool) *Tensor {
	const name = "MaskedSoftmax"
	k := deviceKernels(name, t)
	t = t.Contiguous()
	out := deviceNew(name, k, t.Device(), t.shape)
	lq, n := t.shape[len(t.shape)-2], t.shape[len(t.shape)-1]
	if out.Numel() > 0 {
		deviceFail(name, out.dev, k.MaskedSoftmax(out.Numel()/n, lq, n, scale, causal, out.buf, t.buf, t.offset))
	}
	return out
}

// deviceLayerNormBackward runs the fused kernel for all three gradients and
// returns those asked for.
func deviceLayerNormBackward(x, w, mean, rstd, g *Tensor, needX, needW, needB bool) (dx, dw, db *Tensor) {
	const name = "LayerNormBackward"
	k := deviceKernels(name, x, w, mean, rstd, g)
	x, mean, rstd, g = x.Contiguous(), mean.Contiguous(), rstd.Contiguous(), g.Contiguous()
	d := x.shape[len(x.shape)-1]
	var wo Operand
	if w != nil {
		wo = w.Contiguous().span()
	}
	dxt := deviceNew(name, k, x.dev, x.shape)
	dwt, dbt := deviceNew(name, k, x.dev, []int{d}), deviceNew(name, k, x.dev, []int{d})
	if rows := mean.Numel(); rows > 0 && d > 0 {
		deviceFail(name, x.dev, k.LayerNormBackward(rows, d, dxt.buf, dwt.buf, dbt.buf, g.span(), x.span(), mean.span(), rstd.span(), wo))
	}
	if needX {
		dx = dxt
	}
	if needW {
		dw = dwt
	}
	if needB {
		db = dbt
	}
	return dx, dw, db
}
