package nn

import (
	"fmt"

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
	h := m.CFc.Forward(x)      // [..., D] -> [..., 4D]
	a := autograd.QuickGELU(h) // [..., 4D]
	recycle(x, a, false, true, h)
	out := m.CProj.Forward(a) // [..., 4D] -> [..., D]
	recycle(x, out, false, m.CProj.readsInput(), a)
	return out
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
	return b.residual(x, x, func(h *autograd.Var) *autograd.Var { return b.Attn.Forward(h, b.Causal) })
}

// ForwardFirst is Forward(x)[:, :nq], [N, nq, D], computed for those rows
// only: their queries, attention output and MLP, with the keys and values
// of all L rows. For a last block of which only the first rows are read
// (the image tower's class token) it skips the other rows' work, about
// three quarters of a ViT-B/16 block, with the same bits in the rows it
// returns; the gradients it passes back (to x and to the block's weights)
// equal Forward's up to float32 rounding (TestForwardFirst). With a hook registered on the block or its attention, or
// recording on, it runs Forward and slices (the hooks and records see the
// whole block).
func (b *ResidualAttentionBlock) ForwardFirst(x *autograd.Var, nq int) *autograd.Var {
	s := x.Shape()
	if len(s) != 3 || nq < 1 || nq > s[1] {
		panic(fmt.Sprintf("nn.ResidualAttentionBlock: ForwardFirst(%v, %d), want [N, L, D] and 1 ≤ nq ≤ L", s, nq))
	}
	if len(b.hooks.fns) > 0 || b.RecordBranches || b.Attn.holds() {
		return autograd.Slice(b.Forward(x), 1, 0, nq)
	}
	xq := autograd.Slice(x, 1, 0, nq) // [N, L, D] -> [N, nq, D]
	return b.residual(x, xq, func(h *autograd.Var) *autograd.Var { return b.Attn.forward(h, b.Causal, nq) })
}

// ForwardPacked is Forward on the packed rows x [R, D] of causal sequences
// (MultiheadAttention.ForwardPacked): LayerNorm and the MLP act on each row,
// so only attention needs to know the sequences.
func (b *ResidualAttentionBlock) ForwardPacked(x *autograd.Var, seqs []autograd.PackedSeq) *autograd.Var {
	if !b.Causal {
		panic("nn.ResidualAttentionBlock: packed forward of a non-causal block")
	}
	return b.residual(x, x, func(h *autograd.Var) *autograd.Var { return b.Attn.ForwardPacked(h, seqs) })
}

// ForwardPackedRows is ForwardPacked(x, seqs) at the given rows only,
// [len(rows), D]: the attention runs over all rows (keys, values and every
// query: packed attention is cheap next to the projections), the output
// projection, the residuals and the MLP over the rows asked for, with the
// same bits there. For a last block of which only some rows are read (the
// text tower's EOT rows). With a hook registered on the block or its
// attention, or recording on, it runs ForwardPacked and selects the rows
// (the hooks and records see the whole block).
func (b *ResidualAttentionBlock) ForwardPackedRows(x *autograd.Var, seqs []autograd.PackedSeq, rows []int) *autograd.Var {
	if len(b.hooks.fns) > 0 || b.RecordBranches || b.Attn.holds() {
		return autograd.IndexSelect(b.ForwardPacked(x, seqs), 0, rows)
	}
	if !b.Causal {
		panic("nn.ResidualAttentionBlock: packed forward of a non-causal block")
	}
	xq := autograd.IndexSelect(x, 0, rows) // [R, D] -> [len(rows), D]
	return b.residual(x, xq, func(h *autograd.Var) *autograd.Var { return b.Attn.forwardPacked(h, seqs, rows) })
}

// residual is the block around its attention: xq + attn(ln_1(x)), then
// + mlp(ln_2(·)); xq is x, or the rows of x that attn returns.
func (b *ResidualAttentionBlock) residual(x, xq *autograd.Var, attn func(*autograd.Var) *autograd.Var) *autograd.Var {
	hold := b.RecordBranches || b.Attn.holds()
	ln1 := b.Ln1.Forward(x)
	a := attn(ln1)
	recycle(x, a, hold, b.Attn.InProjWeight.RequiresGrad(), ln1) // read by in_proj's backward for its weight's gradient
	h := autograd.Add(xq, a)
	recycle(x, h, hold, false, a)
	ln2 := b.Ln2.Forward(h)
	m := b.MLP.Forward(ln2)
	recycle(x, m, hold, b.MLP.CFc.readsInput(), ln2)
	if b.RecordBranches {
		b.LastAttnBranch, b.LastMLPBranch = a, m
	}
	out := autograd.Add(h, m)
	recycle(x, out, hold, true, h) // read by ln_2's backward
	recycle(x, out, hold, false, m)
	return b.hooks.run("block", x, out)
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
