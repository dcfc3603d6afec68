package autograd

import "github.com/gocoop/gocoop/tensor"

// THIS FILE IS A CONTRACT SKELETON written by the lead so that nn can be
// developed in parallel. The autograd helper implements every function here
// (engine in var.go/engine.go, ops one family per file with forward and
// backward side by side) and deletes this file. Signatures may gain functions
// but must not change without telling the lead.

// Var is a node of the define-by-run graph: a value, an optional gradient and
// the backward closure of the op that made it.
type Var struct {
	Value *tensor.Tensor
	Grad  *tensor.Tensor // nil until Backward reaches it (leaves that require grad, or retained)

	name         string
	requiresGrad bool
	retain       bool
	parents      []*Var
	backward     func(grad *tensor.Tensor) // accumulates into parents that require grad
	hooks        []func(grad *tensor.Tensor) *tensor.Tensor
}

// NewVar wraps a tensor as a leaf. requiresGrad=false makes it frozen: it
// never gets a gradient buffer, but gradients still pass through ops that use
// it to trainable inputs.
func NewVar(t *tensor.Tensor, requiresGrad bool) *Var { panic("todo") }
func Constant(t *tensor.Tensor) *Var                  { panic("todo") } // NewVar(t, false)
func Param(t *tensor.Tensor) *Var                     { panic("todo") } // NewVar(t, true)

func (v *Var) Shape() []int           { panic("todo") }
func (v *Var) Name() string           { panic("todo") }
func (v *Var) SetName(n string) *Var  { panic("todo") }
func (v *Var) RequiresGrad() bool     { panic("todo") }
func (v *Var) SetRequiresGrad(b bool) { panic("todo") } // leaves only
func (v *Var) IsLeaf() bool           { panic("todo") }
func (v *Var) Detach() *Var           { panic("todo") }
func (v *Var) ZeroGrad()              { panic("todo") } // Grad = nil
// RetainGrad keeps the gradient of an intermediate in Grad after Backward.
func (v *Var) RetainGrad() *Var { panic("todo") }

// RegisterHook calls f with the gradient reaching v (fully accumulated) during
// Backward; a non-nil return replaces the gradient passed on.
func (v *Var) RegisterHook(f func(grad *tensor.Tensor) *tensor.Tensor) { panic("todo") }

// Backward of a scalar (numel 1) output, seeded with 1.
func (v *Var) Backward() { panic("todo") }

// BackwardWith seeds the output gradient explicitly (fake-loss trick).
func (v *Var) BackwardWith(grad *tensor.Tensor) { panic("todo") }

// NoGrad runs f with graph recording off.
func NoGrad(f func()) { panic("todo") }

// SetGradEnabled switches recording and returns the previous setting.
func SetGradEnabled(on bool) bool { panic("todo") }
func GradEnabled() bool           { panic("todo") }

// ---- ops (each with backward) ----
func Add(a, b *Var) *Var                          { panic("todo") } // broadcasting
func Sub(a, b *Var) *Var                          { panic("todo") }
func Mul(a, b *Var) *Var                          { panic("todo") }
func Div(a, b *Var) *Var                          { panic("todo") }
func Neg(a *Var) *Var                             { panic("todo") }
func AddScalar(a *Var, s float32) *Var            { panic("todo") }
func MulScalar(a *Var, s float32) *Var            { panic("todo") }
func MatMul(a, b *Var) *Var                       { panic("todo") } // batched, broadcast batch dims
func MatMulT(a, b *Var, transA, transB bool) *Var { panic("todo") }

// Linear computes x·wᵀ + b with w [out,in] as PyTorch; b may be nil. x [..., in].
func Linear(x, w, b *Var) *Var                    { panic("todo") }
func Sum(a *Var, axes []int, keepDim bool) *Var   { panic("todo") }
func Mean(a *Var, axes []int, keepDim bool) *Var  { panic("todo") }
func Reshape(a *Var, shape ...int) *Var           { panic("todo") }
func Permute(a *Var, dims ...int) *Var            { panic("todo") }
func Transpose(a *Var, d0, d1 int) *Var           { panic("todo") }
func Concat(vs []*Var, dim int) *Var              { panic("todo") }
func Slice(a *Var, dim, start, end int) *Var      { panic("todo") }
func IndexSelect(a *Var, dim int, idx []int) *Var { panic("todo") } // embedding lookup: IndexSelect(W, 0, ids)
// GatherRows picks, for each batch item b, row idx[b] of x [B, L, D] → [B, D] (EOT pooling).
func GatherRows(x *Var, idx []int) *Var { panic("todo") }
func Exp(a *Var) *Var                   { panic("todo") }
func Log(a *Var) *Var                   { panic("todo") }
func Sqrt(a *Var) *Var                  { panic("todo") }
func Tanh(a *Var) *Var                  { panic("todo") }
func Sigmoid(a *Var) *Var               { panic("todo") }
func Relu(a *Var) *Var                  { panic("todo") }
func QuickGELU(a *Var) *Var             { panic("todo") } // x·σ(1.702x)
func Softmax(a *Var, axis int) *Var     { panic("todo") }
func LogSoftmax(a *Var, axis int) *Var  { panic("todo") }

// LayerNorm over the last axis; weight and bias [D] (either may be nil).
func LayerNorm(x, weight, bias *Var, eps float32) *Var { panic("todo") }

// L2Normalize divides by max(‖x‖₂, eps) along axis (torch.nn.functional.normalize).
func L2Normalize(a *Var, axis int, eps float32) *Var { panic("todo") }

// ScaledDotProductAttention: q [..., Lq, d], k [..., Lk, d], v [..., Lk, dv];
// softmax(q·kᵀ·scale + causal mask)·v with scale = 1/√d. probs, if non-nil,
// receives the attention probabilities [..., Lq, Lk] (for inspection).
func ScaledDotProductAttention(q, k, v *Var, causal bool, probs **tensor.Tensor) *Var { panic("todo") }

// CrossEntropy: mean over rows of −log softmax(logits)[label]; logits [N, C].
func CrossEntropy(logits *Var, labels []int) *Var { panic("todo") }
