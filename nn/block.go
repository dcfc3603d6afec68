package nn

import (
	"github.com/gocoop/gocoop/autograd"
)

// MLP is CLIP's block feed-forward: c_proj(QuickGELU(c_fc(x))).
// Parameters "c_fc.*" (D -> 4D) and "c_proj.*" (4D -> D).
type MLP struct {
	CFc   *Linear // [4D, D]
	CProj *Linear // [D, 4D]
}

// NewMLP builds the MLP called name of width d with hidden width 4d.
func NewMLP(p Params, name string, d int) *MLP {
	return &MLP{CFc: NewLinear(p, JoinName(name, "c_fc"), d, 4*d, true), CProj: NewLinear(p, JoinName(name, "c_proj"), 4*d, d, true)}
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

	// RecordBranches makes Forward and ForwardPacked keep, from their last
	// call, the two residual branches as graph nodes: LastAttnBranch =
	// attn(ln_1(x)) and LastMLPBranch = mlp(ln_2(x + attn branch)), what
	// each half of the block adds to the residual stream.
	RecordBranches                bool
	LastAttnBranch, LastMLPBranch *autograd.Var

	hooks forwardHooks
}

// RegisterForwardHook adds a hook called with the block's input and output
// at every forward; see ForwardHook.
func (b *ResidualAttentionBlock) RegisterForwardHook(h ForwardHook) *HookHandle {
	return b.hooks.register(h)
}

// NewResidualAttentionBlock builds the block called name of width d with
// heads heads, its parameters from p in model.py's registration order.
func NewResidualAttentionBlock(p Params, name string, d, heads int, causal bool) *ResidualAttentionBlock {
	return &ResidualAttentionBlock{
		Attn:   NewMultiheadAttention(p, JoinName(name, "attn"), d, heads),
		Ln1:    NewLayerNorm(p, JoinName(name, "ln_1"), d),
		MLP:    NewMLP(p, JoinName(name, "mlp"), d),
		Ln2:    NewLayerNorm(p, JoinName(name, "ln_2"), d),
		Causal: causal,
	}
}

// Forward maps x [N, L, D] to [N, L, D].
func (b *ResidualAttentionBlock) Forward(x *autograd.Var) *autograd.Var {
	return b.residual(x, func(h *autograd.Var) *autograd.Var { return b.Attn.Forward(h, b.Causal) })
}

// ForwardPacked is Forward on the packed rows x [R, D] of causal sequences
// (MultiheadAttention.ForwardPacked): LayerNorm and the MLP act on each row,
// so only attention needs to know the sequences.
func (b *ResidualAttentionBlock) ForwardPacked(x *autograd.Var, seqs []autograd.PackedSeq) *autograd.Var {
	if !b.Causal {
		panic("nn.ResidualAttentionBlock: packed forward of a non-causal block")
	}
	return b.residual(x, func(h *autograd.Var) *autograd.Var { return b.Attn.ForwardPacked(h, seqs) })
}

// residual is the block around its attention: x + attn(ln_1(x)), then
// + mlp(ln_2(x)).
func (b *ResidualAttentionBlock) residual(x *autograd.Var, attn func(*autograd.Var) *autograd.Var) *autograd.Var {
	a := attn(b.Ln1.Forward(x))
	h := autograd.Add(x, a)
	m := b.MLP.Forward(b.Ln2.Forward(h))
	if b.RecordBranches {
		b.LastAttnBranch, b.LastMLPBranch = a, m
	}
	return b.hooks.run("block", x, autograd.Add(h, m))
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

// NewTransformer builds the transformer called name: layers blocks
// "resblocks.i" of the given width and heads, parameters from p; causal
// applies CLIP's text mask in every block.
func NewTransformer(p Params, name string, width, layers, heads int, causal bool) *Transformer {
	t := &Transformer{Width: width, Layers: layers, Heads: heads}
	for i := range layers {
		t.Resblocks = append(t.Resblocks, NewResidualAttentionBlock(p, JoinName(name, "resblocks."+itoa(i)), width, heads, causal))
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
