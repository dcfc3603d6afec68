package clip

import (
	"fmt"
	"math"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
)

// VisionTransformer is CLIP's image tower (model.py's VisionTransformer):
// patch embedding, class token, positional embedding, ln_pre, pre-LN
// residual blocks, ln_post on the class token and the projection.
//
// State-dict names under "visual.": class_embedding [D],
// positional_embedding [(R/P)²+1, D], proj [D, E] (stored [in, out]),
// conv1.weight [D, 3, P, P], ln_pre.*, transformer.resblocks.i.*, ln_post.*.
type VisionTransformer struct {
	InputResolution int // R
	PatchSize       int // P
	Width           int // D
	OutputDim       int // E

	Conv1               *nn.PatchEmbed // Conv2d(3, D, P, stride P, bias=False)
	ClassEmbedding      *autograd.Var  // [D]
	PositionalEmbedding *autograd.Var  // [(R/P)² + 1, D]
	LnPre               *nn.LayerNorm
	Transformer         *nn.Transformer
	LnPost              *nn.LayerNorm
	Proj                *autograd.Var // [D, E], [in, out]
}

func newVisionTransformer(cfg Config, p nn.Params) *VisionTransformer {
	d, grid := cfg.VisionWidth, cfg.ImageResolution/cfg.VisionPatchSize
	v := &VisionTransformer{
		InputResolution: cfg.ImageResolution,
		PatchSize:       cfg.VisionPatchSize,
		Width:           d,
		OutputDim:       cfg.EmbedDim,
	}
	scale := nn.Normal(float32(1 / math.Sqrt(float64(d)))) // model.py: width ** -0.5 * randn
	v.ClassEmbedding = p("visual.class_embedding", scale, d)
	v.PositionalEmbedding = p("visual.positional_embedding", scale, grid*grid+1, d)
	v.Proj = p("visual.proj", scale, d, cfg.EmbedDim)
	v.Conv1 = nn.NewPatchEmbed(p, "visual.conv1", 3, d, cfg.VisionPatchSize)
	v.LnPre = nn.NewLayerNorm(p, "visual.ln_pre", d)
	v.Transformer = nn.NewTransformer(p, "visual.transformer", d, cfg.VisionLayers, cfg.VisionHeads, false)
	v.LnPost = nn.NewLayerNorm(p, "visual.ln_post", d)
	return v
}

// Forward encodes images x [N, 3, R, R] (normalized as Preprocess does) into
// image features [N, E] (not normalized). tr, if non-nil, receives the
// intermediates. x may require grad (e.g. for saliency); the weights are
// frozen as loaded.
func (v *VisionTransformer) Forward(x *autograd.Var, tr *TowerTrace) *autograd.Var {
	s := x.Shape()
	if len(s) != 4 || s[1] != 3 || s[2] != v.InputResolution || s[3] != v.InputResolution {
		panic(fmt.Sprintf("clip: EncodeImage: images %v, want [N, 3, %d, %d]", s, v.InputResolution, v.InputResolution))
	}
	n, d := s[0], v.Width
	x = v.Conv1.Forward(x)                                                // [N, 3, R, R] -> [N, grid², D]
	cls := autograd.Reshape(v.ClassEmbedding, 1, 1, d)                    // [D] -> [1, 1, D]
	cls = autograd.Expand(cls, n, 1, d)                                   // [1, 1, D] -> [N, 1, D]
	x = autograd.Concat([]*autograd.Var{cls, x}, 1)                       // [N, grid² + 1, D]
	x = autograd.Add(x, v.PositionalEmbedding)                            // + [grid² + 1, D]
	x = v.LnPre.Forward(x)                                                // [N, L, D]
	x = runBlocks(v.Transformer, x, tr, 1)                                // [N, L, D], or [N, 1, D] untraced
	x = v.LnPost.Forward(autograd.Squeeze(autograd.Slice(x, 1, 0, 1), 1)) // CLS token: [N, L or 1, D] -> [N, D]
	if tr != nil {
		tr.Final = x
	}
	x = autograd.MatMul(x, v.Proj) // [N, D] @ [D, E] -> [N, E]
	if tr != nil {
		tr.Features = x
	}
	return x
}

// NamedParameters implements nn.Module with model.py's names and order.
func (v *VisionTransformer) NamedParameters(prefix string) []nn.NamedParam {
	return nn.Collect(
		nn.Leaf(prefix, "class_embedding", v.ClassEmbedding),
		nn.Leaf(prefix, "positional_embedding", v.PositionalEmbedding),
		nn.Leaf(prefix, "proj", v.Proj),
		nn.Child(prefix, "conv1", v.Conv1),
		nn.Child(prefix, "ln_pre", v.LnPre),
		nn.Child(prefix, "transformer", v.Transformer),
		nn.Child(prefix, "ln_post", v.LnPost),
	)
}

// runBlocks applies t's residual blocks one by one (instead of
// t.Forward) so that a trace can keep every block's output and attention.
// With first > 0 and no trace, the last block computes only the first
// rows, the only ones read after it (the image tower's class token:
// nn.ResidualAttentionBlock.ForwardFirst, the same bits forward, about 6%
// of a ViT-B/16 forward saved; trained through, as clip.Pretrainer does,
// its gradients equal the whole block's up to float32 rounding).
func runBlocks(t *nn.Transformer, x *autograd.Var, tr *TowerTrace, first int) *autograd.Var {
	if tr != nil {
		tr.reset(x)
	}
	for i, b := range t.Resblocks {
		tr.record(b)
		if tr == nil && first > 0 && i == len(t.Resblocks)-1 {
			return b.ForwardFirst(x, first) // [N, L, D] -> [N, first, D]
		}
		x = b.Forward(x) // [N, L, D] -> [N, L, D]
		tr.keep(b, x)
	}
	return x
}

// record switches block b's recording (attention, heads, branches) on for
// a pass traced with RecordAttn, off otherwise.
func (tr *TowerTrace) record(b *nn.ResidualAttentionBlock) bool {
	on := tr != nil && tr.RecordAttn
	b.Attn.RecordAttn, b.RecordBranches = on, on
	return on
}

// keep appends block b's output x and, when recording, its heads and
// branches to the trace, then clears b's records so that the module does
// not keep the graph alive.
func (tr *TowerTrace) keep(b *nn.ResidualAttentionBlock, x *autograd.Var) {
	if tr != nil {
		tr.Blocks = append(tr.Blocks, x)
		if tr.RecordAttn {
			tr.Heads = append(tr.Heads, b.Attn.LastHeads)
			tr.AttnBranch = append(tr.AttnBranch, b.LastAttnBranch)
			tr.MLPBranch = append(tr.MLPBranch, b.LastMLPBranch)
			if p := b.Attn.LastAttn; p != nil {
				tr.Probs = append(tr.Probs, p)
				tr.Attn = append(tr.Attn, p.Value)
			}
		}
	}
	b.Attn.RecordAttn, b.RecordBranches = false, false
	b.Attn.LastAttn, b.Attn.LastHeads, b.Attn.LastPackedAttn = nil, nil, nil
	b.LastAttnBranch, b.LastMLPBranch = nil, nil
}
