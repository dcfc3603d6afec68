package nn

import (
	"fmt"
	"math"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// MultiheadAttention is torch.nn.MultiheadAttention(D, H) for self-attention
// (no dropout, no bias_k/bias_v, no add_zero_attn), batch-first.
// Parameters "in_proj_weight" [3D, D] (rows q | k | v), "in_proj_bias" [3D],
// "out_proj.weight" [D, D], "out_proj.bias" [D]. Head i uses feature
// columns [i·d, (i+1)·d) with d = D/H; scores are scaled by 1/√d.
type MultiheadAttention struct {
	InProjWeight *autograd.Var // [3D, D]
	InProjBias   *autograd.Var // [3D]
	OutProj      *Linear       // D -> D
	Dim, Heads   int

	// RecordAttn makes Forward keep, from its last call, the attention
	// probabilities LastAttn [N, H, L, L] (row = query, column = key) and the
	// per-head outputs LastHeads [N, H, L, d] (P·v of each head, before
	// out_proj), both graph nodes (RetainGrad them before Backward for
	// gradient × attention). ForwardPacked keeps LastHeads [R, H, d] and the
	// probabilities' values per sequence in LastPackedAttn, [H, n−Own, n]
	// (see autograd.PackedAttention, whose probabilities are not nodes).
	RecordAttn     bool
	LastAttn       *autograd.Var
	LastHeads      *autograd.Var
	LastPackedAttn []*tensor.Tensor

	hooks, headHooks forwardHooks
}

// RegisterForwardHook adds a hook called with the attention's input x and
// its output (after out_proj) at every forward; see ForwardHook.
func (m *MultiheadAttention) RegisterForwardHook(h ForwardHook) *HookHandle {
	return m.hooks.register(h)
}

// RegisterHeadHook adds a hook called with the attention's input x and the
// per-head outputs before out_proj, [N, H, L, d] ([R, H, d] packed), at
// every forward: returning them with head h zeroed ablates that head,
// returning another run's patches it.
func (m *MultiheadAttention) RegisterHeadHook(h ForwardHook) *HookHandle {
	return m.headHooks.register(h)
}

// NewMultiheadAttention builds the module called name, its parameters from
// p; fresh ones get PyTorch's init: xavier-uniform in_proj_weight, zero
// biases, default Linear init for out_proj.weight.
func NewMultiheadAttention(p Params, name string, dim, heads int) *MultiheadAttention {
	if heads <= 0 || dim%heads != 0 {
		panic(fmt.Sprintf("nn.NewMultiheadAttention: dim %d not divisible by heads %d", dim, heads))
	}
	m := &MultiheadAttention{Dim: dim, Heads: heads}
	m.InProjWeight = p(JoinName(name, "in_proj_weight"), Uniform(float32(math.Sqrt(6/float64(4*dim)))), 3*dim, dim)
	m.InProjBias = p(JoinName(name, "in_proj_bias"), Constant(0), 3*dim)
	out := JoinName(name, "out_proj")
	m.OutProj = &Linear{
		Weight: p(JoinName(out, "weight"), Uniform(float32(1/math.Sqrt(float64(dim)))), dim, dim),
		Bias:   p(JoinName(out, "bias"), Constant(0), dim),
		In:     dim, Out: dim,
	}
	return m
}

// Forward is self-attention on x [N, L, D]; causal masks key j > query i
// (CLIP's text mask: 0 on and below the diagonal, −inf above).
func (m *MultiheadAttention) Forward(x *autograd.Var, causal bool) *autograd.Var {
	return m.forward(x, causal, 0)
}

// forward is Forward for the queries of the first nq positions (all L when
// nq is 0), keys and values from all L: [N, L, D] -> [N, nq, D].
func (m *MultiheadAttention) forward(x *autograd.Var, causal bool, nq int) *autograd.Var {
	s := x.Shape()
	if len(s) != 3 || s[2] != m.Dim {
		panic(fmt.Sprintf("nn.MultiheadAttention: input %v, want [N, L, %d]", s, m.Dim))
	}
	n, l, d := s[0], s[1], m.Dim
	if nq == 0 {
		nq = l
	}
	hold := m.holds()           // before the hooks run: one may remove itself
	qkv, q, k, v := m.inProj(x) // [N, L, 3D], 3 × [N, L, D]
	if nq < l {
		q = autograd.Slice(q, 1, 0, nq) // [N, L, D] -> [N, nq, D]
	}
	q, k, v = m.splitHeads(q), m.splitHeads(k), m.splitHeads(v) // [N, H, nq or L, d]
	p := autograd.AttentionProbs(q, k, causal)                  // softmax(q·kᵀ/√d + mask): [N, H, nq, L]
	o := autograd.MatMul(p, v)                                  // [N, H, nq, L] @ [N, H, L, d] -> [N, H, nq, d]
	o = m.headHooks.run("attention heads", x, o)
	if m.RecordAttn {
		m.LastAttn, m.LastHeads = p, o
	}
	recycle(x, o, hold, true, qkv, p)           // read by the attention's backward
	merged := autograd.Permute(o, 0, 2, 1, 3)   // [N, H, nq, d] -> [N, nq, H, d]
	merged = autograd.Reshape(merged, n, nq, d) // [N, nq, H, d] -> [N, nq, D] (a copy, unless H or nq is 1)
	recycle(x, merged, hold, false, o)
	out := m.OutProj.Forward(merged)
	recycle(x, out, hold, m.OutProj.readsInput(), merged)
	return m.hooks.run("attention", x, out)
}

// holds reports whether a hook or a record may keep the attention's
// activations (then recycle leaves them alone).
func (m *MultiheadAttention) holds() bool {
	return len(m.hooks.fns)+len(m.headHooks.fns) > 0 || m.RecordAttn
}

// ForwardPacked is causal self-attention on the rows x [R, D] of many
// sequences packed together (autograd.PackedAttention: each sequence lists
// its rows in position order, and may start with a prefix of rows owned by
// another sequence): the projections of Forward over all R rows at once,
// attention within each sequence. With the same weights and inputs it
// equals Forward on the sequences laid out one per batch row, up to
// float32 rounding (clip's shared-prefix text path is built on it).
func (m *MultiheadAttention) ForwardPacked(x *autograd.Var, seqs []autograd.PackedSeq) *autograd.Var {
	return m.forwardPacked(x, seqs, nil)
}

// forwardPacked is ForwardPacked with the output projection at the given
// rows only, [len(rows), D] (all R rows, in order, when rows is nil).
func (m *MultiheadAttention) forwardPacked(x *autograd.Var, seqs []autograd.PackedSeq, rows []int) *autograd.Var {
	s := x.Shape()
	if len(s) != 2 || s[1] != m.Dim {
		panic(fmt.Sprintf("nn.MultiheadAttention: packed input %v, want [R, %d]", s, m.Dim))
	}
	r, d := s[0], m.Dim
	hold := m.holds()                                                                                  // before the hooks run: one may remove itself
	heads := func(t *autograd.Var) *autograd.Var { return autograd.Reshape(t, r, m.Heads, d/m.Heads) } // [R, D] -> [R, H, d]
	qkv, q, k, v := m.inProj(x)                                                                        // [R, 3D], 3 × [R, D]
	q, k, v = heads(q), heads(k), heads(v)                                                             // views of qkv
	var probs *[]*tensor.Tensor
	if m.RecordAttn {
		probs = &m.LastPackedAttn
	}
	o := autograd.PackedAttention(q, k, v, seqs, probs) // [R, H, d]
	o = m.headHooks.run("attention heads", x, o)
	if m.RecordAttn {
		m.LastHeads = o
	}
	// PackedAttention's backward reads its own contiguous copies of q, k,
	// v; qkv only where a head view is contiguous already (one row).
	read := q.Value.IsContiguous() || k.Value.IsContiguous() || v.Value.IsContiguous()
	recycle(x, o, hold, read, qkv)
	n := r
	if rows != nil {
		all := o
		o = autograd.IndexSelect(o, 0, rows) // [R, H, d] -> [n, H, d]
		n = len(rows)
		recycle(x, o, hold, false, all)
	}
	out := m.OutProj.Forward(autograd.Reshape(o, n, d)) // [n, H, d] -> [n, D] -> [n, D]
	recycle(x, out, hold, m.OutProj.readsInput(), o)
	return m.hooks.run("attention", x, out)
}

// inProj returns q, k, v = x·in_proj_weightᵀ + in_proj_bias split along
// the last axis, each [..., D].
func (m *MultiheadAttention) inProj(x *autograd.Var) (qkv, q, k, v *autograd.Var) {
	qkv = autograd.Linear(x, m.InProjWeight, m.InProjBias) // [..., 3D]
	last, d := len(x.Shape())-1, m.Dim
	return qkv, autograd.Slice(qkv, last, 0, d), autograd.Slice(qkv, last, d, 2*d), autograd.Slice(qkv, last, 2*d, 3*d)
}

// splitHeads: [N, L, D] -> [N, L, H, d] -> [N, H, L, d].
func (m *MultiheadAttention) splitHeads(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	x = autograd.Reshape(x, s[0], s[1], m.Heads, m.Dim/m.Heads) // [N, L, D] -> [N, L, H, d]
	return autograd.Permute(x, 0, 2, 1, 3)                      // [N, L, H, d] -> [N, H, L, d]
}

// NamedParameters implements Module.
func (m *MultiheadAttention) NamedParameters(prefix string) []NamedParam {
	return Collect(
		Leaf(prefix, "in_proj_weight", m.InProjWeight),
		Leaf(prefix, "in_proj_bias", m.InProjBias),
		Child(prefix, "out_proj", m.OutProj),
	)
}
