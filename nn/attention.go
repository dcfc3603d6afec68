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

	// RecordAttn makes Forward keep the attention probabilities of its last
	// call in LastAttn, [N, H, L, L] (row = query, column = key).
	RecordAttn bool
	LastAttn   *tensor.Tensor
}

// NewMultiheadAttention builds the module with PyTorch's init:
// xavier-uniform in_proj_weight, zero biases, default Linear init for
// out_proj.weight. A nil rng leaves every parameter zero.
func NewMultiheadAttention(dim, heads int, rng *tensor.RNG) *MultiheadAttention {
	if heads <= 0 || dim%heads != 0 {
		panic(fmt.Sprintf("nn.NewMultiheadAttention: dim %d not divisible by heads %d", dim, heads))
	}
	m := &MultiheadAttention{Dim: dim, Heads: heads}
	m.InProjWeight = autograd.Param(uniformOrZeros(rng, float32(math.Sqrt(6/float64(4*dim))), 3*dim, dim))
	m.InProjBias = autograd.Param(tensor.Zeros(3 * dim))
	m.OutProj = NewLinear(dim, dim, true, rng)
	m.OutProj.Bias.Value.Fill(0)
	return m
}

// Forward is self-attention on x [N, L, D]; causal masks key j > query i
// (CLIP's text mask: 0 on and below the diagonal, −inf above).
func (m *MultiheadAttention) Forward(x *autograd.Var, causal bool) *autograd.Var {
	s := x.Shape()
	if len(s) != 3 || s[2] != m.Dim {
		panic(fmt.Sprintf("nn.MultiheadAttention: input %v, want [N, L, %d]", s, m.Dim))
	}
	n, l, d := s[0], s[1], m.Dim
	qkv := autograd.Linear(x, m.InProjWeight, m.InProjBias) // [N, L, 3D]
	q := m.splitHeads(autograd.Slice(qkv, 2, 0, d))         // [N, H, L, d]
	k := m.splitHeads(autograd.Slice(qkv, 2, d, 2*d))       // [N, H, L, d]
	v := m.splitHeads(autograd.Slice(qkv, 2, 2*d, 3*d))     // [N, H, L, d]
	var probs **tensor.Tensor
	if m.RecordAttn {
		probs = &m.LastAttn
	}
	o := autograd.ScaledDotProductAttention(q, k, v, causal, probs) // [N, H, L, d]
	o = autograd.Permute(o, 0, 2, 1, 3)                             // [N, H, L, d] -> [N, L, H, d]
	o = autograd.Reshape(o, n, l, d)                                // [N, L, H, d] -> [N, L, D]
	return m.OutProj.Forward(o)
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
