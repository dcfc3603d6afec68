package autograd

import (
	"fmt"
	"sync/atomic"

	"github.com/gocoop/gocoop/tensor"
)

// Var is a value of the define-by-run graph: a value, an optional gradient
// and (through its node) the backward closure of the op that made it.
//
// Value and Grad are shared with the graph: treat them as read-only while a
// graph that uses them is alive (an optimizer updating a leaf's Value in place
// between steps is fine).
//
// The graph itself links nodes, not Vars: an op's backward closure keeps the
// nodes of its inputs and only the tensors it needs, so an intermediate
// value that no backward uses (the input of a frozen Linear, say) is freed
// as soon as the caller drops its Var, while the graph lives on.
type Var struct {
	Value *tensor.Tensor
	Grad  *tensor.Tensor // nil until Backward reaches it (leaves that require grad, or retained)

	*node
}

// node is a Var's place in the graph.
type node struct {
	name         string
	requiresGrad bool
	retain       bool
	parents      []*node                   // inputs that require grad (the graph edges)
	backward     func(grad *tensor.Tensor) // accumulates into parents that require grad
	hooks        []func(grad *tensor.Tensor) *tensor.Tensor
	shape        []int // of the value, to check gradients

	// v is the Var whose Grad the engine sets: every leaf's, and a
	// retained op result's. It is nil for other op results, so that the
	// graph does not keep their values alive.
	v *Var

	pending *tensor.Tensor // gradient being accumulated during Backward
	owned   bool           // pending was allocated by the engine and may be updated in place
	walking bool           // in the current walk's order: only such nodes accumulate

	saved []*tensor.Tensor // SaveForBackward: freed after the first Backward through this node
	freed bool             // saved was freed: a later walk through this node panics
}

// newVar makes a Var of value t with its node, pointing back to it (a leaf).
func newVar(t *tensor.Tensor, name string, requiresGrad bool) *Var {
	v := &Var{Value: t}
	v.node = &node{name: name, requiresGrad: requiresGrad, shape: t.Shape(), v: v}
	return v
}

// NewVar wraps a tensor as a leaf. requiresGrad=false makes it frozen: it
// never gets a gradient buffer, but gradients still pass through ops that use
// it to trainable inputs.
func NewVar(t *tensor.Tensor, requiresGrad bool) *Var {
	if t == nil {
		panic("autograd: NewVar of a nil tensor")
	}
	return newVar(t, "", requiresGrad)
}

// Constant wraps t as a frozen leaf: NewVar(t, false).
func Constant(t *tensor.Tensor) *Var { return NewVar(t, false) }

// Param wraps t as a trainable leaf: NewVar(t, true).
func Param(t *tensor.Tensor) *Var { return NewVar(t, true) }

// Shape returns a copy of the value's shape.
func (v *Var) Shape() []int { return v.Value.Shape() }

// Name returns the name set by SetName, or the op that made v ("" for leaves).
func (v *Var) Name() string { return v.name }

// SetName names v (used in error messages and debugging) and returns v.
func (v *Var) SetName(n string) *Var { v.name = n; return v }

// RequiresGrad reports whether gradients are computed for v.
func (v *Var) RequiresGrad() bool { return v.requiresGrad }

// SetRequiresGrad freezes (false) or unfreezes (true) a leaf. It panics on
// the result of an op, whose flag is derived from its inputs.
func (v *Var) SetRequiresGrad(b bool) {
	if !v.IsLeaf() {
		panic(fmt.Sprintf("autograd: SetRequiresGrad on %s, which is not a leaf; use Detach", v.label()))
	}
	v.requiresGrad = b
}

// IsLeaf reports whether v was made by NewVar, Detach, or by an op that
// recorded nothing (no input required grad, or recording was off).
func (v *Var) IsLeaf() bool { return v.backward == nil }

// Detach returns a frozen leaf sharing v's value.
func (v *Var) Detach() *Var { return newVar(v.Value, v.name, false) }

// ZeroGrad drops the gradient (Grad = nil); the next Backward starts afresh.
func (v *Var) ZeroGrad() { v.Grad = nil }

// RetainGrad keeps the gradient of an intermediate in Grad after Backward
// (leaves that require grad always keep theirs). Like a leaf's, a retained
// gradient accumulates over Backward calls until ZeroGrad. It is a no-op on a
// Var that does not require grad. It returns v.
func (v *Var) RetainGrad() *Var {
	v.retain = true
	v.node.v = v
	return v
}

// SaveForBackward hands v tensors that the backward of the ops between
// its inputs and v reads (activations those ops saved for their backward,
// as PyTorch's ctx.save_for_backward) and that no tensor outside that graph
// views. Once a Backward has walked through v, their storage is freed for
// reuse (tensor.Recycle), as PyTorch frees saved tensors after backward()
// unless retain_graph is set; a later walk through v (Backward or Grad)
// panics instead of reading freed storage. Grad alone frees nothing: use
// it to walk a graph more than once. On a Var that does not require grad
// (in no graph) it does nothing. nn's blocks save their activations this
// way (docs/autograd.md §3).
func (v *Var) SaveForBackward(ts ...*tensor.Tensor) {
	if v.requiresGrad && !v.IsLeaf() {
		v.saved = append(v.saved, ts...)
	}
}

// RegisterHook calls f with the gradient reaching v (fully accumulated) during
// Backward; a non-nil return replaces the gradient passed on (and stored in
// Grad). f must not modify its argument in place: return a new tensor.
// It panics if v does not require grad, since f could never be called.
func (v *Var) RegisterHook(f func(grad *tensor.Tensor) *tensor.Tensor) {
	if !v.requiresGrad {
		panic(fmt.Sprintf("autograd: RegisterHook on %s, which does not require grad", v.label()))
	}
	v.hooks = append(v.hooks, f)
}

// label names a node in messages: its name, else its shape.
func (n *node) label() string {
	if n.name != "" {
		return fmt.Sprintf("%q %v", n.name, n.shape)
	}
	return fmt.Sprintf("Var %v", n.shape)
}

// ---- grad mode ----

var gradEnabled atomic.Bool

func init() { gradEnabled.Store(true) }

// NoGrad runs f with graph recording off (and restores the previous setting,
// also if f panics). The switch is process-wide, not per goroutine.
func NoGrad(f func()) {
	prev := SetGradEnabled(false)
	defer SetGradEnabled(prev)
	f()
}

// SetGradEnabled switches recording and returns the previous setting.
// While off, ops produce frozen leaves with no backward closure.
func SetGradEnabled(on bool) bool { return gradEnabled.Swap(on) }

// GradEnabled reports whether ops record the graph.
func GradEnabled() bool { return gradEnabled.Load() }
