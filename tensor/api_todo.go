package tensor

// THIS FILE IS A CONTRACT SKELETON written by the lead so that autograd and nn
// can be developed in parallel. The tensor helper implements every function
// here (moving each into its proper file: tensor.go, view.go, elementwise.go,
// reduce.go, matmul.go, nnops.go, rng.go, device.go ...) and deletes this file.
// Signatures may gain functions but must not change without telling the lead.

// Tensor is a float32 N-d array, row-major with strides. Views (Reshape of a
// contiguous tensor, Transpose, Permute, Slice, Expand, Index) share storage.
// Ops panic with a *ShapeError naming both shapes on mismatch; use Catch to
// turn such a panic into an error at an API boundary.
type Tensor struct {
	shape   []int
	strides []int // in elements; 0 for expanded (broadcast) dims
	offset  int
	data    []float32 // host storage; nil when the tensor lives on a device
	dev     Device
	buf     Buffer // device storage when dev is not CPU
}

// ShapeError reports incompatible shapes for an op.
type ShapeError struct {
	Op     string
	Shapes [][]int
	Msg    string
}

func (e *ShapeError) Error() string { panic("todo") }

// Catch recovers a panic carrying a *ShapeError (or other error) into *err.
// Usage: defer tensor.Catch(&err)
func Catch(err *error) { panic("todo") }

// ---- construction ----
func New(shape ...int) *Tensor                       { panic("todo") } // zeros
func Zeros(shape ...int) *Tensor                     { panic("todo") }
func Ones(shape ...int) *Tensor                      { panic("todo") }
func Full(v float32, shape ...int) *Tensor           { panic("todo") }
func FromSlice(data []float32, shape ...int) *Tensor { panic("todo") } // no copy; panics if len != numel
func Scalar(v float32) *Tensor                       { panic("todo") } // shape []
func Arange(n int) *Tensor                           { panic("todo") }
func ZerosLike(t *Tensor) *Tensor                    { panic("todo") }

// ---- inspection ----
func (t *Tensor) Shape() []int              { panic("todo") } // copy
func (t *Tensor) Strides() []int            { panic("todo") }
func (t *Tensor) Dim(i int) int             { panic("todo") } // negative i counts from the end
func (t *Tensor) NDim() int                 { panic("todo") }
func (t *Tensor) Numel() int                { panic("todo") }
func (t *Tensor) IsContiguous() bool        { panic("todo") }
func (t *Tensor) Data() []float32           { panic("todo") } // contiguous storage [offset:offset+numel]; panics if not contiguous
func (t *Tensor) ToSlice() []float32        { panic("todo") } // fresh row-major copy
func (t *Tensor) At(idx ...int) float32     { panic("todo") }
func (t *Tensor) Set(v float32, idx ...int) { panic("todo") }
func (t *Tensor) Item() float32             { panic("todo") } // numel must be 1
func (t *Tensor) String() string            { panic("todo") }
func SameShape(a, b []int) bool             { panic("todo") }

// ---- copies and in-place ----
func (t *Tensor) Contiguous() *Tensor                    { panic("todo") } // t itself if already contiguous
func (t *Tensor) Clone() *Tensor                         { panic("todo") }
func (t *Tensor) CopyFrom(src *Tensor)                   { panic("todo") } // src broadcast to t's shape
func (t *Tensor) Fill(v float32)                         { panic("todo") }
func (t *Tensor) AddInPlace(src *Tensor)                 { panic("todo") } // t += src (src broadcast to t)
func (t *Tensor) AxpyInPlace(alpha float32, src *Tensor) { panic("todo") } // t += alpha*src
func (t *Tensor) ScaleInPlace(alpha float32)             { panic("todo") }

// ---- views ----
func (t *Tensor) Reshape(shape ...int) *Tensor      { panic("todo") } // one -1 allowed; view if possible else copy
func (t *Tensor) Transpose(d0, d1 int) *Tensor      { panic("todo") }
func (t *Tensor) Permute(dims ...int) *Tensor       { panic("todo") }
func (t *Tensor) T() *Tensor                        { panic("todo") } // 2-D transpose
func (t *Tensor) Slice(dim, start, end int) *Tensor { panic("todo") } // [start,end) along dim, view
func (t *Tensor) Index(dim, i int) *Tensor          { panic("todo") } // select, drops dim, view
func (t *Tensor) Expand(shape ...int) *Tensor       { panic("todo") } // broadcast view (stride 0)
func (t *Tensor) Unsqueeze(dim int) *Tensor         { panic("todo") }
func (t *Tensor) Squeeze(dim int) *Tensor           { panic("todo") }

// ---- elementwise (NumPy broadcasting) ----
func BroadcastShapes(a, b []int) ([]int, error)               { panic("todo") }
func Add(a, b *Tensor) *Tensor                                { panic("todo") }
func Sub(a, b *Tensor) *Tensor                                { panic("todo") }
func Mul(a, b *Tensor) *Tensor                                { panic("todo") }
func Div(a, b *Tensor) *Tensor                                { panic("todo") }
func Maximum(a, b *Tensor) *Tensor                            { panic("todo") }
func AddScalar(a *Tensor, s float32) *Tensor                  { panic("todo") }
func MulScalar(a *Tensor, s float32) *Tensor                  { panic("todo") }
func Neg(a *Tensor) *Tensor                                   { panic("todo") }
func Exp(a *Tensor) *Tensor                                   { panic("todo") }
func Log(a *Tensor) *Tensor                                   { panic("todo") }
func Sqrt(a *Tensor) *Tensor                                  { panic("todo") }
func Tanh(a *Tensor) *Tensor                                  { panic("todo") }
func Sigmoid(a *Tensor) *Tensor                               { panic("todo") }
func Relu(a *Tensor) *Tensor                                  { panic("todo") }
func Square(a *Tensor) *Tensor                                { panic("todo") }
func Map(a *Tensor, f func(float32) float32) *Tensor          { panic("todo") }
func Map2(a, b *Tensor, f func(x, y float32) float32) *Tensor { panic("todo") } // broadcasting

// ---- reductions ----
// axes may be negative; nil or empty axes reduce over all dims.
func Sum(t *Tensor, axes []int, keepDim bool) *Tensor  { panic("todo") }
func Mean(t *Tensor, axes []int, keepDim bool) *Tensor { panic("todo") }
func Max(t *Tensor, axes []int, keepDim bool) *Tensor  { panic("todo") }

// Argmax along axis; returns indices in row-major order of the remaining dims
// (first maximal index wins, as torch.argmax).
func Argmax(t *Tensor, axis int) []int { panic("todo") }

// SumTo reduces a broadcast result back to shape (the adjoint of broadcasting).
func SumTo(t *Tensor, shape []int) *Tensor { panic("todo") }

// ---- linear algebra (dispatched to asm) ----
// MatMul: a [..., M, K] · b [..., K, N] with broadcast batch dims; 1-D
// operands follow numpy.matmul rules only for 2-D+ here (callers reshape).
func MatMul(a, b *Tensor) *Tensor { panic("todo") }

// MatMulT as MatMul with op(a)=aᵀ (last two dims) when transA, op(b)=bᵀ when transB.
// Strided views with unit stride in either of the last two dims are passed
// to asm without a copy.
func MatMulT(a, b *Tensor, transA, transB bool) *Tensor { panic("todo") }

// ---- structural ----
func Concat(ts []*Tensor, dim int) *Tensor              { panic("todo") }
func Stack(ts []*Tensor, dim int) *Tensor               { panic("todo") }
func IndexSelect(t *Tensor, dim int, idx []int) *Tensor { panic("todo") } // copy; errors name the bad index
// IndexAdd is the adjoint of IndexSelect: dst.Index(dim, idx[i]) += src.Index(dim, i).
func IndexAdd(dst *Tensor, dim int, idx []int, src *Tensor) { panic("todo") }

// ---- row ops on the last axis (used by autograd and nn; vectorized via asm) ----
func Softmax(t *Tensor, axis int) *Tensor    { panic("todo") }
func LogSoftmax(t *Tensor, axis int) *Tensor { panic("todo") }

// LayerNorm over the last axis: returns y, and per-row mean and rstd (shape = t.shape[:-1]).
func LayerNorm(t, weight, bias *Tensor, eps float32) (y, mean, rstd *Tensor) { panic("todo") }

// ---- comparison (tests) ----
func AllClose(a, b *Tensor, rtol, atol float64) bool { panic("todo") }
func MaxAbsDiff(a, b *Tensor) float64                { panic("todo") }

// ---- RNG: deterministic, version-stable (own PCG + Box-Muller, not math/rand) ----
type RNG struct{ state, inc uint64 }

func NewRNG(seed uint64) *RNG                                 { panic("todo") }
func (r *RNG) Uint64() uint64                                 { panic("todo") }
func (r *RNG) Float32() float32                               { panic("todo") } // [0,1)
func (r *RNG) Float64() float64                               { panic("todo") }
func (r *RNG) NormFloat64() float64                           { panic("todo") }
func (r *RNG) Intn(n int) int                                 { panic("todo") }
func (r *RNG) Perm(n int) []int                               { panic("todo") }
func (r *RNG) Normal(mean, std float32, shape ...int) *Tensor { panic("todo") }
func (r *RNG) Uniform(lo, hi float32, shape ...int) *Tensor   { panic("todo") }

// ---- device seam ----
// Device names where a tensor's storage lives. CPU is the default; a CUDA
// backend (build tag cuda) registers itself with RegisterBackend.
type Device interface{ String() string }

// Buffer is device memory owned by a Backend.
type Buffer interface{ Len() int }

// Backend is what a device must provide; ops on non-CPU tensors without a
// backend implementation move data to the host (documented, counted).
type Backend interface {
	Device() Device
	Upload(host []float32) (Buffer, error)
	Download(buf Buffer, host []float32) error
	// Sgemm as asm.Sgemm, on device buffers.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a Buffer, aOff, lda int, b Buffer, bOff, ldb int, beta float32, c Buffer, cOff, ldc int) error
}

var CPU Device

func RegisterBackend(b Backend)                { panic("todo") }
func (t *Tensor) Device() Device               { panic("todo") }
func (t *Tensor) To(d Device) (*Tensor, error) { panic("todo") }
