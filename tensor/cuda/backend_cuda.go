//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gocoop/gocoop/tensor"
)

// Options configure Open.
type Options struct {
	// Ordinal is the GPU to use (CUDA's device numbering).
	Ordinal int
	// TF32 lets cuBLAS use TF32 tensor cores for fp32 products (10-bit
	// mantissa inputs): faster on Ampere and later, and no longer within
	// float32 tolerance of the CPU path. Off by default.
	TF32 bool
}

type device struct{ ordinal int }

// String returns "cuda:N".
func (d device) String() string { return fmt.Sprintf("cuda:%d", d.ordinal) }

// Backend is the CUDA tensor.Backend (with tensor.Kernels and
// tensor.BatchedSgemm).
type Backend struct {
	dev          device
	name         string
	major, minor int
	opts         Options
	cache        *cache
	fns          map[string]unsafe.Pointer
}

var (
	openMu  sync.Mutex
	libErr  error
	libDone bool
	opened  *Backend
)

// Available reports why the CUDA device cannot be used (nil when it can):
// a missing library, no GPU, or a kernel compilation failure.
func Available() error {
	_, err := Open()
	return err
}

// Open loads the CUDA libraries, initializes GPU 0 with default Options,
// compiles the kernels and registers the backend; it returns the device to
// move tensors to. Later calls return the same device.
func Open() (tensor.Device, error) { return OpenWith(Options{}) }

// OpenWith is Open with options. The first successful call fixes them; a
// later call with other options is an error.
func OpenWith(o Options) (tensor.Device, error) {
	b, err := open(o)
	if err != nil {
		return nil, err
	}
	return b.dev, nil
}

// Get returns the opened backend (Open first).
func Get() (*Backend, error) { return open(Options{}) }

func open(o Options) (*Backend, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if opened != nil {
		if o != (Options{}) && o != opened.opts {
			return nil, fmt.Errorf("cuda: already opened with %+v; cannot reopen with %+v", opened.opts, o)
		}
		return opened, nil
	}
	if !libDone {
		libErr, libDone = openLibs(), true
	}
	if libErr != nil {
		return nil, libErr
	}
	b := &Backend{dev: device{o.Ordinal}, opts: o, fns: map[string]unsafe.Pointer{}}
	var err error
	if b.name, b.major, b.minor, err = initDevice(o.Ordinal, o.TF32); err != nil {
		return nil, err
	}
	mod, err := compile(kernelSource, b.major, b.minor)
	if err != nil {
		return nil, err
	}
	for _, k := range kernelNames {
		if b.fns[k], err = getFunction(mod, k); err != nil {
			return nil, err
		}
	}
	b.cache = newCache(cudaMem{}, func() {
		runtime.GC()
		runtime.Gosched() // let the cleanups that return buffers run
	})
	tensor.RegisterBackend(b)
	opened = b
	return b, nil
}

// Name is the GPU's name and compute capability.
func (b *Backend) Name() string { return fmt.Sprintf("%s (sm_%d%d)", b.name, b.major, b.minor) }

// Device returns the backend's device.
func (b *Backend) Device() tensor.Device { return b.dev }

// MemStats returns the caching allocator's counts.
func (b *Backend) MemStats() MemStats { return b.cache.Stats() }

// ResetPeak starts a new high-water mark of MemStats.Peak at the memory in
// use now (benchmarks measure one step's peak with it).
func (b *Backend) ResetPeak() { b.cache.resetPeak() }

// DeviceMemory returns the driver's free and total bytes.
func (b *Backend) DeviceMemory() (free, total int, err error) { return memInfo() }

// Sync waits for every launched kernel (kernels run asynchronously; errors
// of a kernel surface here or at the next download).
func (b *Backend) Sync() error { return synchronize() }

// buffer is device memory from the cache; it returns there when the buffer
// becomes unreachable.
type buffer struct {
	ptr uint64
	n   int
}

// Len is in float32 elements.
func (d *buffer) Len() int { return d.n }

type block struct {
	ptr   uint64
	class int
}

func (b *Backend) alloc(n int) (*buffer, error) {
	if n >= 1<<31 {
		return nil, fmt.Errorf("cuda: %d elements: tensors of 2³¹ elements or more are not supported", n)
	}
	p, class, err := b.cache.get(4 * n)
	if err != nil {
		return nil, fmt.Errorf("cuda: %w", err)
	}
	buf := &buffer{ptr: p, n: n}
	c := b.cache
	runtime.AddCleanup(buf, func(k block) { c.put(k.ptr, k.class) }, block{p, class})
	return buf, nil
}

// Alloc returns n zeroed elements.
func (b *Backend) Alloc(n int) (tensor.Buffer, error) {
	buf, err := b.alloc(n)
	if err != nil {
		return nil, err
	}
	if err := memZero(buf.ptr, n); err != nil {
		return nil, err
	}
	return buf, nil
}

// Upload copies host into new device memory.
func (b *Backend) Upload(host []float32) (tensor.Buffer, error) {
	buf, err := b.alloc(len(host))
	if err != nil {
		return nil, err
	}
	return buf, memcpyHtoD(buf.ptr, host)
}

// Download copies len(host) elements from the start of buf (it waits for
// the kernels before it).
func (b *Backend) Download(buf tensor.Buffer, host []float32) error {
	d, err := b.own(buf)
	if err != nil {
		return err
	}
	if len(host) > d.n {
		return fmt.Errorf("cuda: download of %d elements from a buffer of %d", len(host), d.n)
	}
	err = memcpyDtoH(host, d.ptr)
	runtime.KeepAlive(d)
	return err
}

func (b *Backend) own(buf tensor.Buffer) (*buffer, error) {
	d, ok := buf.(*buffer)
	if !ok || d == nil {
		return nil, fmt.Errorf("cuda: buffer %T is not CUDA memory", buf)
	}
	return d, nil
}

// at is the device address of element off of buf (0 for a nil buffer).
func (b *Backend) at(buf tensor.Buffer, off int) (uint64, error) {
	if buf == nil {
		return 0, nil
	}
	d, err := b.own(buf)
	if err != nil {
		return 0, err
	}
	return d.ptr + 4*uint64(off), nil
}

// ptrs resolves several (buffer, offset) pairs; see at.
func (b *Backend) ptrs(bufs ...any) ([]uint64, error) {
	out := make([]uint64, 0, len(bufs)/2)
	for i := 0; i < len(bufs); i += 2 {
		var buf tensor.Buffer
		if bufs[i] != nil {
			buf = bufs[i].(tensor.Buffer)
		}
		p, err := b.at(buf, bufs[i+1].(int))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Sgemm is asm.Sgemm's contract on device memory, through cublasSgemm_v2.
func (b *Backend) Sgemm(transA, transB bool, m, n, k int, alpha float32, a tensor.Buffer, aOff, lda int, bb tensor.Buffer, bOff, ldb int, beta float32, c tensor.Buffer, cOff, ldc int) error {
	p, err := b.ptrs(a, aOff, bb, bOff, c, cOff)
	if err != nil {
		return err
	}
	err = sgemm(transA, transB, m, n, k, alpha, p[0], lda, p[1], ldb, beta, p[2], ldc)
	runtime.KeepAlive(a)
	runtime.KeepAlive(bb)
	runtime.KeepAlive(c)
	return err
}

// SgemmStridedBatched runs batch products in one cublasSgemmStridedBatched call.
func (b *Backend) SgemmStridedBatched(transA, transB bool, m, n, k int, alpha float32, a tensor.Buffer, aOff, lda, sa int, bb tensor.Buffer, bOff, ldb, sb int, beta float32, c tensor.Buffer, cOff, ldc, sc, batch int) error {
	p, err := b.ptrs(a, aOff, bb, bOff, c, cOff)
	if err != nil {
		return err
	}
	err = sgemmBatched(transA, transB, m, n, k, alpha, p[0], lda, sa, p[1], ldb, sb, beta, p[2], ldc, sc, batch)
	runtime.KeepAlive(a)
	runtime.KeepAlive(bb)
	runtime.KeepAlive(c)
	return err
}

// ---- kernel launches --------------------------------------------------------

const threads = 256

// gridFor is the number of blocks for a grid-stride loop over n elements.
func gridFor(n int) int { return max(1, min((n+threads-1)/threads, 65535)) }

func (b *Backend) launch(name string, gx, gy, block, shared int, args *argPack, keep ...any) error {
	f := b.fns[name]
	if f == nil {
		return fmt.Errorf("cuda: no kernel %s", name)
	}
	err := launch(f, gx, gy, block, shared, args)
	runtime.KeepAlive(keep)
	if err != nil {
		return fmt.Errorf("cuda: kernel %s: %w", name, err)
	}
	return nil
}

var opCodes = map[string]int{
	"copy": opCopy, "add": opAdd, "sub": opSub, "mul": opMul, "div": opDiv, "max": opMax,
	"neg": opNeg, "exp": opExp, "log": opLog, "sqrt": opSqrt, "tanh": opTanh, "sigmoid": opSigmoid,
	"relu": opRelu, "square": opSquare, "quickgelu": opQuickGELU, "gt": opGT, "quickgelu_grad": opQuickGELUGrad,
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// contiguous returns the row-major strides of shape.
func contiguous(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// stridesOf returns o's strides over shape (nil: contiguous).
func stridesOf(o tensor.Operand, shape []int) []int {
	if o.Strides == nil {
		return contiguous(shape)
	}
	return o.Strides
}

// Elementwise implements tensor.Kernels: the inputs' strides go in the
// layout's s0 and s1, the output's in s2.
func (b *Backend) Elementwise(op string, shape []int, out, x, y tensor.Operand, s float32) error {
	code, ok := opCodes[op]
	if !ok {
		return fmt.Errorf("cuda: no elementwise op %q", op)
	}
	n := numel(shape)
	p, err := b.ptrs(out.Buf, out.Off, x.Buf, x.Off, y.Buf, y.Off)
	if err != nil {
		return err
	}
	os := stridesOf(out, shape)
	if y.Buf == nil {
		l, err := makeLayout(shape, stridesOf(x, shape), nil, os)
		if err != nil {
			return err
		}
		return b.launch("ew_unary", gridFor(n), 1, threads, 0,
			new(argPack).i32(code).i32(n).layout(l).ptr(p[0]).ptr(p[1]).f32(s), out.Buf, x.Buf)
	}
	l, err := makeLayout(shape, stridesOf(x, shape), stridesOf(y, shape), os)
	if err != nil {
		return err
	}
	return b.launch("ew_binary", gridFor(n), 1, threads, 0,
		new(argPack).i32(code).i32(n).layout(l).ptr(p[0]).ptr(p[1]).ptr(p[2]), out.Buf, x.Buf, y.Buf)
}

// Reduce implements tensor.Kernels.
func (b *Backend) Reduce(op string, shape []int, red []bool, out tensor.Buffer, x tensor.Operand) error {
	code := map[string]int{"sum": opAdd, "max": opMax}[op]
	if code == 0 {
		return fmt.Errorf("cuda: no reduction %q", op)
	}
	var ks, kst, rs, rst []int
	for i, d := range shape {
		if red[i] {
			rs, rst = append(rs, d), append(rst, x.Strides[i])
		} else {
			ks, kst = append(ks, d), append(kst, x.Strides[i])
		}
	}
	K, err := makeLayout(ks, kst)
	if err != nil {
		return err
	}
	R, err := makeLayout(rs, rst)
	if err != nil {
		return err
	}
	p, err := b.ptrs(out, 0, x.Buf, x.Off)
	if err != nil {
		return err
	}
	nout, nred := numel(ks), numel(rs)
	return b.launch("reduce_strided", max(1, min(nout, 65535)), 1, threads, 0,
		new(argPack).i32(code).i32(nout).i32(nred).layout(K).layout(R).ptr(p[0]).ptr(p[1]), out, x.Buf)
}

// Rows implements tensor.Kernels.
func (b *Backend) Rows(op string, rows, n int, out tensor.Buffer, x tensor.Buffer, xOff int) error {
	logsm, ok := map[string]int{"softmax": 0, "logsoftmax": 1}[op]
	if !ok {
		return fmt.Errorf("cuda: no row op %q", op)
	}
	return b.softmaxRows(rows, n, logsm, 1, 0, out, x, xOff)
}

// MaskedSoftmax implements tensor.Kernels.
func (b *Backend) MaskedSoftmax(rows, lq, n int, scale float32, causal bool, out tensor.Buffer, x tensor.Buffer, xOff int) error {
	mask := 0
	if causal {
		mask = lq
	}
	return b.softmaxRows(rows, n, 0, scale, mask, out, x, xOff)
}

func (b *Backend) softmaxRows(rows, n, logsm int, scale float32, lq int, out, x tensor.Buffer, xOff int) error {
	p, err := b.ptrs(out, 0, x, xOff)
	if err != nil {
		return err
	}
	return b.launch("softmax_rows", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(n).i32(logsm).f32(scale).i32(lq).ptr(p[0]).ptr(p[1]), out, x)
}

// LayerNorm implements tensor.Kernels.
func (b *Backend) LayerNorm(rows, d int, eps float32, y, mean, rstd tensor.Buffer, x tensor.Buffer, xOff int, w, bias tensor.Operand) error {
	p, err := b.ptrs(y, 0, mean, 0, rstd, 0, x, xOff, w.Buf, w.Off, bias.Buf, bias.Off)
	if err != nil {
		return err
	}
	return b.launch("layernorm_rows", max(1, min(rows, 65535)), 1, threads, 0,
		new(argPack).i32(rows).i32(d).f32(eps).ptr(p[0]).ptr(p[1]).ptr(p[2]).ptr(p[3]).ptr(p[4]).ptr(p[5]),
		y, mean, rstd, x, w.Buf, bias.Buf)
}
