// Package devicetest is a fake device for tests without a GPU: a
// tensor.Backend with every tensor.Kernels and tensor.BatchedSgemm method,
// whose "device memory" is host slices and whose kernels run the CPU code
// of package tensor (and asm's sgemm) on host copies of their operands.
//
// Moving a computation onto it checks the device dispatch — the shapes,
// offsets and strides each kernel is handed, and that no op reads device
// data on the host (such an op panics with a *tensor.DeviceError, as it
// would on a GPU) — and the results equal the CPU path's up to the order of
// float32 operations. What it cannot check is the CUDA C itself: the GPU
// tests (tensor/cuda, bench/cuda/run.sh) run the same checks on the real
// device.
//
// Compare and CompareFloat are the device-against-CPU measure that the
// checks of every layer share (autograd/autogradtest, nn/nntest,
// clip/cliptest, cocoop/cocooptest).
package devicetest

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/tensor"
)

// Device is a fake device, "fake:N".
type Device struct{ id int64 }

// String returns "fake:N".
func (d Device) String() string { return fmt.Sprintf("fake:%d", d.id) }

type buffer []float32

func (b buffer) Len() int { return len(b) }

// Backend is the fake device's backend; it counts kernel calls and
// transfers.
type Backend struct {
	dev Device

	mu                 sync.Mutex
	calls              map[string]int
	uploads, downloads int
}

var devices atomic.Int64

// New registers a fresh fake device and returns its backend.
func New() *Backend {
	b := &Backend{dev: Device{devices.Add(1)}, calls: map[string]int{}}
	tensor.RegisterBackend(b)
	return b
}

// Device returns the fake device (a tensor.Device).
func (b *Backend) Device() tensor.Device { return b.dev }

// Calls returns how many times each kernel ran ("add", "sum", "gather",
// "sgemm", "layernorm_backward", ...).
func (b *Backend) Calls() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.calls)
}

// Transfers returns the number of uploads and downloads so far.
func (b *Backend) Transfers() (uploads, downloads int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.uploads, b.downloads
}

func (b *Backend) count(op string) {
	b.mu.Lock()
	b.calls[op]++
	b.mu.Unlock()
}

func (b *Backend) own(buf tensor.Buffer) buffer {
	f, ok := buf.(buffer)
	if !ok {
		panic(fmt.Sprintf("devicetest: buffer %T is not fake device memory", buf))
	}
	return f
}

// Upload implements tensor.Backend.
func (b *Backend) Upload(host []float32) (tensor.Buffer, error) {
	b.mu.Lock()
	b.uploads++
	b.mu.Unlock()
	return buffer(slices.Clone(host)), nil
}

// Download implements tensor.Backend.
func (b *Backend) Download(buf tensor.Buffer, host []float32) error {
	b.mu.Lock()
	b.downloads++
	b.mu.Unlock()
	copy(host, b.own(buf))
	return nil
}

// Sgemm implements tensor.Backend with asm.Sgemm.
func (b *Backend) Sgemm(ta, tb bool, m, n, k int, alpha float32, a tensor.Buffer, aOff, lda int, bb tensor.Buffer, bOff, ldb int, beta float32, c tensor.Buffer, cOff, ldc int) error {
	b.count("sgemm")
	asm.Sgemm(ta, tb, m, n, k, alpha, b.own(a)[aOff:], lda, b.own(bb)[bOff:], ldb, beta, b.own(c)[cOff:], ldc)
	return nil
}

// SgemmStridedBatched implements tensor.BatchedSgemm, one Sgemm per item.
func (b *Backend) SgemmStridedBatched(ta, tb bool, m, n, k int, alpha float32, a tensor.Buffer, aOff, lda, sa int, bb tensor.Buffer, bOff, ldb, sb int, beta float32, c tensor.Buffer, cOff, ldc, sc, batch int) error {
	b.count("sgemm_batched")
	for i := range batch {
		asm.Sgemm(ta, tb, m, n, k, alpha, b.own(a)[aOff+i*sa:], lda, b.own(bb)[bOff+i*sb:], ldb, beta, b.own(c)[cOff+i*sc:], ldc)
	}
	return nil
}

// Alloc implements tensor.Kernels.
func (b *Backend) Alloc(n int) (tensor.Buffer, error) {
	b.count("alloc")
	return make(buffer, n), nil
}

// each calls f with the offset of every element of o over shape, in
// row-major order (nil Strides: contiguous).
func each(o tensor.Operand, shape []int, f func(i, off int)) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	strides := o.Strides
	if strides == nil {
		strides = make([]int, len(shape))
		s := 1
		for i := len(shape) - 1; i >= 0; i-- {
			strides[i] = s
			s *= shape[i]
		}
	}
	idx := make([]int, len(shape))
	for i := range n {
		off := o.Off
		for d := range shape {
			off += idx[d] * strides[d]
		}
		f(i, off)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// gather copies o over shape into a contiguous host tensor.
func (b *Backend) gather(o tensor.Operand, shape []int) *tensor.Tensor {
	t := tensor.New(shape...)
	d, src := t.Data(), b.own(o.Buf)
	each(o, shape, func(i, off int) { d[i] = src[off] })
	return t
}

// scatter writes the contiguous host tensor t into o over shape.
func (b *Backend) scatter(o tensor.Operand, shape []int, t *tensor.Tensor) {
	d, src := b.own(o.Buf), t.Contiguous().Data()
	each(o, shape, func(i, off int) { d[off] = src[i] })
}

// rows wraps n contiguous elements of o as a host tensor of shape (no
// copy: writes go to the fake device memory).
func (b *Backend) rows(o tensor.Operand, shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor.FromSlice(b.own(o.Buf)[o.Off:o.Off+n], shape...)
}

func (b *Backend) put(dst tensor.Buffer, t *tensor.Tensor) { copy(b.own(dst), t.Contiguous().Data()) }

// Elementwise implements tensor.Kernels with the tensor ops.
func (b *Backend) Elementwise(op string, shape []int, out, x, y tensor.Operand, s float32) error {
	b.count(op)
	a := b.gather(x, shape)
	var r *tensor.Tensor
	unary := map[string]func(*tensor.Tensor) *tensor.Tensor{
		"neg": tensor.Neg, "exp": tensor.Exp, "log": tensor.Log, "sqrt": tensor.Sqrt, "tanh": tensor.Tanh,
		"sigmoid": tensor.Sigmoid, "relu": tensor.Relu, "square": tensor.Square, "quickgelu": tensor.QuickGELU,
		"copy": func(t *tensor.Tensor) *tensor.Tensor { return t },
	}
	binary := map[string]func(x, y *tensor.Tensor) *tensor.Tensor{
		"add": tensor.Add, "sub": tensor.Sub, "mul": tensor.Mul, "div": tensor.Div, "max": tensor.Maximum,
		"quickgelu_grad": tensor.QuickGELUGrad,
		"gt": func(x, y *tensor.Tensor) *tensor.Tensor {
			return tensor.Map2(x, y, func(p, q float32) float32 {
				if p > q {
					return 1
				}
				return 0
			})
		},
	}
	scalar := map[string]func(*tensor.Tensor, float32) *tensor.Tensor{
		"add": tensor.AddScalar, "mul": tensor.MulScalar, "max": tensor.MaximumScalar, "gt": tensor.GreaterThan,
	}
	switch {
	case unary[op] != nil:
		r = unary[op](a)
	case y.Buf == nil && scalar[op] != nil:
		r = scalar[op](a, s)
	case y.Buf != nil && binary[op] != nil:
		r = binary[op](a, b.gather(y, shape))
	default:
		return fmt.Errorf("devicetest: no elementwise op %q (scalar operand: %v)", op, y.Buf == nil)
	}
	b.scatter(out, shape, r)
	return nil
}

// Reduce implements tensor.Kernels.
func (b *Backend) Reduce(op string, shape []int, red []bool, out tensor.Buffer, x tensor.Operand) error {
	b.count(op)
	var axes []int
	for i, r := range red {
		if r {
			axes = append(axes, i)
		}
	}
	a := b.gather(x, shape)
	switch op {
	case "sum":
		b.put(out, tensor.Sum(a, axes, true))
	case "max":
		b.put(out, tensor.Max(a, axes, true))
	default:
		return fmt.Errorf("devicetest: no reduction %q", op)
	}
	return nil
}

// Rows implements tensor.Kernels.
func (b *Backend) Rows(op string, rows, n int, out tensor.Buffer, x tensor.Buffer, xOff int) error {
	b.count(op)
	a := b.rows(tensor.Operand{Buf: x, Off: xOff}, rows, n)
	switch op {
	case "softmax":
		b.put(out, tensor.Softmax(a, -1))
	case "logsoftmax":
		b.put(out, tensor.LogSoftmax(a, -1))
	default:
		return fmt.Errorf("devicetest: no row op %q", op)
	}
	return nil
}

// MaskedSoftmax implements tensor.Kernels.
func (b *Backend) MaskedSoftmax(rows, lq, n int, scale float32, causal bool, out tensor.Buffer, x tensor.Buffer, xOff int) error {
	b.count("masked_softmax")
	if rows%lq != 0 {
		return fmt.Errorf("devicetest: MaskedSoftmax: %d rows are not a multiple of %d queries", rows, lq)
	}
	b.put(out, tensor.MaskedSoftmax(b.rows(tensor.Operand{Buf: x, Off: xOff}, rows/lq, lq, n), scale, causal))
	return nil
}

// LayerNorm implements tensor.Kernels.
func (b *Backend) LayerNorm(rows, d int, eps float32, y, mean, rstd tensor.Buffer, x tensor.Buffer, xOff int, w, bias tensor.Operand) error {
	b.count("layernorm")
	var W, B *tensor.Tensor
	if w.Buf != nil {
		W = b.gather(w, []int{d})
	}
	if bias.Buf != nil {
		B = b.gather(bias, []int{d})
	}
	Y, M, R := tensor.LayerNorm(b.rows(tensor.Operand{Buf: x, Off: xOff}, rows, d), W, B, eps)
	b.put(y, Y)
	b.put(mean, M)
	b.put(rstd, R)
	return nil
}

// LayerNormBackward implements tensor.Kernels.
func (b *Backend) LayerNormBackward(rows, d int, dx, dw, db tensor.Buffer, dy, x, mean, rstd, w tensor.Operand) error {
	b.count("layernorm_backward")
	var W *tensor.Tensor
	if w.Buf != nil {
		W = b.rows(w, d)
	}
	DX, DW, DB := tensor.LayerNormBackward(b.rows(x, rows, d), W, b.rows(mean, rows), b.rows(rstd, rows), b.rows(dy, rows, d), true, true, true)
	b.put(dx, DX)
	b.put(dw, DW)
	b.put(db, DB)
	return nil
}

// Gather implements tensor.Kernels.
func (b *Backend) Gather(d int, out, src tensor.Operand, idx []int) error {
	b.count("gather")
	if len(idx) == 0 {
		return nil
	}
	n := slices.Max(idx) + 1
	r := tensor.IndexSelect(b.rows(src, n, d), 0, idx)
	copy(b.own(out.Buf)[out.Off:], r.Data())
	return nil
}

// ScatterAdd implements tensor.Kernels.
func (b *Backend) ScatterAdd(d int, dst, src tensor.Operand, idx []int) error {
	b.count("scatter_add")
	if len(idx) == 0 {
		return nil
	}
	tensor.IndexAdd(b.rows(dst, slices.Max(idx)+1, d), 0, idx, b.rows(src, len(idx), d))
	return nil
}

// CrossEntropy implements tensor.Kernels.
func (b *Backend) CrossEntropy(rows, n int, loss tensor.Buffer, logits tensor.Operand, labels []int) error {
	b.count("cross_entropy")
	b.put(loss, tensor.CrossEntropyRows(b.rows(logits, rows, n), labels))
	return nil
}

// CrossEntropyBackward implements tensor.Kernels.
func (b *Backend) CrossEntropyBackward(rows, n int, scale float32, dx tensor.Buffer, logits tensor.Operand, labels []int) error {
	b.count("cross_entropy_backward")
	b.put(dx, tensor.CrossEntropyGrad(b.rows(logits, rows, n), labels, scale))
	return nil
}

// SGDStep implements tensor.Kernels with optim.SGD's tensor ops, in its
// order, on views of the fake memory.
func (b *Backend) SGDStep(n int, lr, momentum, dampening, wd float32, nesterov, first bool, p, g, buf tensor.Operand) error {
	b.count("sgd")
	P, G := b.rows(p, n), b.rows(g, n)
	if wd != 0 {
		G = tensor.Add(G, tensor.MulScalar(P, wd))
	}
	if momentum != 0 {
		B := b.rows(buf, n)
		if first {
			B.CopyFrom(G)
		} else {
			B.ScaleInPlace(momentum)
			B.AxpyInPlace(1-dampening, G)
		}
		if nesterov {
			G = tensor.Add(G, tensor.MulScalar(B, momentum))
		} else {
			G = B
		}
	}
	P.AxpyInPlace(-lr, G)
	return nil
}

// AdamWStep implements tensor.Kernels with optim.AdamW's float32 loop.
func (b *Backend) AdamWStep(n int, lr, b1, b2, eps, wd float32, t int, p, g, m, v tensor.Operand) error {
	b.count("adamw")
	P, G, M, V := b.rows(p, n).Data(), b.rows(g, n).Data(), b.rows(m, n).Data(), b.rows(v, n).Data()
	decay := 1 - lr*wd
	bc1 := 1 - math.Pow(float64(b1), float64(t))
	bc2 := 1 - math.Pow(float64(b2), float64(t))
	stepSize := float32(float64(lr) / bc1)
	bc2Sqrt := float32(math.Sqrt(bc2))
	for i := range P {
		gi := G[i]
		if wd != 0 {
			P[i] *= decay
		}
		M[i] += (gi - M[i]) * (1 - b1)
		V[i] = V[i]*b2 + (1-b2)*(gi*gi)
		denom := float32(math.Sqrt(float64(V[i])))/bc2Sqrt + eps
		P[i] -= stepSize * (M[i] / denom)
	}
	return nil
}
