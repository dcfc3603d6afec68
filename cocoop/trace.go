package cocoop

import (
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// PromptTrace is CoCoOp's forward pass over a batch with the prompt
// learner's internals as nodes of one graph (docs/cocoop.md §1.4): after
// RetainGrad on any of them and a Backward of a loss on Logits (or with
// autograd.Grad, before any Backward: a Backward frees the text tower's
// saved activations), their gradients are ∂loss/∂π(x̂), ∂loss/∂(ctx + π(x̂)),
// and so on.
type PromptTrace struct {
	Pi     *autograd.Var // π(x̂), the meta-net's output, [B, W]
	Ctx    *autograd.Var // ctx + π(x̂) per image, [B, n_ctx, W]
	Prefix *autograd.Var // [SOS | ctx + π(x̂)] per image, [B, 1+n_ctx, W]: the positions every class prompt of an image shares

	// Prompts is the assembled prompt embeddings [B, n_cls, L, W], prompt
	// (b, c) = [SOS | ctx + π(x̂_b) | suffix_c], when the model's text
	// tower takes its full route (clip.TextTransformer.FullPrompts). With
	// the shortcut (the default) the prompts are never assembled and
	// Prompts is nil: the shared positions are Prefix, computed once per
	// image, whose gradient is the sum over the classes (docs/cocoop.md §7).
	Prompts *autograd.Var

	IDs [][]int32 // the class prompts' token ids, n_cls rows of L (cut after the last EOT, which changes nothing: docs/clip.md §1.3)
	EOT []int     // per class, its EOT position

	// Text is the text tower's trace of the one call that encodes the
	// B·n_cls prompts (prompt n = b·n_cls + c). On the shortcut its
	// tensors are packed rows: Text.PerPrompt maps them, values or
	// gradients, to [B·n_cls, L, ...], the layout of the full route.
	Text clip.TowerTrace

	Logits *autograd.Var // exp(logit_scale)·x̂·normalize(t)ᵀ, [B, n_cls]
}

// ForwardTrace is Forward on normalized image features [B, E] (c's
// ImageFeatures), keeping the trace: every image in one text-encoder call,
// so the trace holds every image of the batch, by either route of the text
// tower. recordAttn also keeps every text block's attention, per-head
// outputs and residual branches (clip.TowerTrace). Gradients reach ctx and
// the meta-net as with Forward. The model's Trace is left as it was.
func (c *CoCoOp) ForwardTrace(feats *tensor.Tensor, recordAttn bool) *PromptTrace {
	m, cp := c.Model, c.classes
	b, k, w := feats.Dim(0), cp.n(), m.TransformerWidth
	feats = toDev(feats, m.Device())
	pi := c.Prompt.Pi(autograd.Constant(feats), true)                                   // [B, W]
	ctx := autograd.Add(autograd.Unsqueeze(c.Prompt.Ctx, 0), autograd.Unsqueeze(pi, 1)) // [1, n_ctx, W] + [B, 1, W]
	prefix := autograd.Concat([]*autograd.Var{cp.sos(b), ctx}, 1)                       // [B, 1+n_ctx, W]
	all := cp.chunks(0)[0]
	ids := cp.chunkIDs(all)
	_, suffix := cp.prefixSuffix(all) // [n_cls, L−1−n_ctx, W]
	tr := &PromptTrace{Pi: pi, Ctx: ctx, Prefix: prefix, IDs: ids, EOT: cp.eot}

	saved := m.Trace
	defer func() { m.Trace = saved }()
	m.Trace = &clip.Trace{RecordAttn: recordAttn}
	var t *autograd.Var // [B, n_cls, E]
	if m.Text.FullPrompts {
		p, s := prefix.Shape()[1], suffix.Shape()[1]
		tr.Prompts = autograd.Concat([]*autograd.Var{
			autograd.Expand(autograd.Unsqueeze(prefix, 1), b, k, p, w), // [B, 1, P, W] -> [B, n_cls, P, W]
			autograd.Expand(autograd.Unsqueeze(suffix, 0), b, k, s, w), // [1, n_cls, S, W] -> [B, n_cls, S, W]
		}, 2) // [B, n_cls, L, W]
		rows := make([][]int32, 0, b*k)
		for range b {
			rows = append(rows, ids...)
		}
		t = m.EncodeTextEmbeddings(autograd.Reshape(tr.Prompts, b*k, p+s, w), rows) // [B·n_cls, L, W] -> [B·n_cls, E]
		t = autograd.Reshape(t, b, k, m.EmbedDim)                                   // [B·n_cls, E] -> [B, n_cls, E]
	} else {
		t = m.EncodeTextShared(prefix, suffix, ids) // [B, n_cls, E]
	}
	tr.Text = m.Trace.Text
	tr.Logits = groupLogits(autograd.Constant(feats), t, logitScale(m))
	return tr
}
