package nn

import (
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// MLP is CLIP's block feed-forward: c_proj(QuickGELU(c_fc(x))).
// Parameters "c_fc.*" (D -> 4D) and "c_proj.*" (4D -> D).
type MLP struct {
	CFc   *Linear // [4D, D]
	CProj *Linear // [D, 4D]
}

// NewMLP builds the MLP of width d with hidden width 4d.
func NewMLP(d int, rng *tensor.RNG) *MLP {
	return &MLP{CFc: NewLinear(d, 4*d, true, rng), CProj: NewLinear(4*d, d, true, rng)}
}

// Forward maps x [..., D] to [..., D].
func (m *MLP) Forward(x *autograd.Var) *autograd.Var {
	return m.CProj.Forward(autograd.QuickGELU(m.CFc.Forward(x))) // [..., D] -> [..., 4D] -> [..., D]
}

// NamedParameters implements Module.
func (m *MLP) NamedParameters(prefix string) []NamedParam {
	return Collect(Child(prefix, "c_fc", m.CFc), Child(prefix, "c_proj", m.CProj))
}

// ResidualAttentionBlock is CLIP's pre-LN transformer block:
//
//	x = x + attn(ln_1(x))
//	x = x + mlp(ln_2(x))
//
// Parameters "ln_1.*", "attn.*", "ln_2.*", "mlp.c_fc.*", "mlp.c_proj.*"
// (state-dict order: attn, ln_1, mlp, ln_2 as model.py registers them).
type ResidualAttentionBlock struct {
	Attn   *MultiheadAttention
	Ln1    *LayerNorm
	MLP    *MLP
	Ln2    *LayerNorm
	Causal bool // CLIP's attn_mask: causal for the text tower
}

// NewResidualAttentionBlock builds a block of width d with heads heads.
func NewResidualAttentionBlock(d, heads int, causal bool, rng *tensor.RNG) *ResidualAttentionBlock {
	return &ResidualAttentionBlock{
		Attn:   NewMultiheadAttention(d, heads, rng),
		Ln1:    NewLayerNorm(d),
		MLP:    NewMLP(d, rng),
		Ln2:    NewLayerNorm(d),
		Causal: causal,
	}
}

// Forward maps x [N, L, D] to [N, L, D].
func (b *ResidualAttentionBlock) Forward(x *autograd.Var) *autograd.Var {
	x = autograd.Add(x, b.Attn.Forward(b.Ln1.Forward(x), b.Causal))
	return autograd.Add(x, b.MLP.Forward(b.Ln2.Forward(x)))
}

// NamedParameters implements Module.
func (b *ResidualAttentionBlock) NamedParameters(prefix string) []NamedParam {
	return Collect(
		Child(prefix, "attn", b.Attn),
		Child(prefix, "ln_1", b.Ln1),
		Child(prefix, "mlp", b.MLP),
		Child(prefix, "ln_2", b.Ln2),
	)
}

// Transformer is CLIP's stack of residual blocks, "resblocks.0" ... .
type Transformer struct {
	Width, Layers, Heads int
	Resblocks            []*ResidualAttentionBlock
}

// NewTransformer builds layers blocks of the given width and heads; causal
// applies CLIP's text mask in every block.
func NewTransformer(width, layers, heads int, causal bool, rng *tensor.RNG) *Transformer {
	t := &Transformer{Width: width, Layers: layers, Heads: heads}
	for range layers {
		t.Resblocks = append(t.Resblocks, NewResidualAttentionBlock(width, heads, causal, rng))
	}
	return t
}

// Forward maps x [N, L, D] to [N, L, D].
func (t *Transformer) Forward(x *autograd.Var) *autograd.Var {
	for _, b := range t.Resblocks {
		x = b.Forward(x)
	}
	return x
}

// NamedParameters implements Module.
func (t *Transformer) NamedParameters(prefix string) []NamedParam {
	var out []NamedParam
	for i, b := range t.Resblocks {
		out = append(out, Child(prefix, "resblocks."+itoa(i), b)...)
	}
	return out
}
