package cocoop

import (
	"math"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// normEps is torch.nn.functional.normalize's eps; the official code divides
// by the norm directly, which is the same for any non-zero feature.
const normEps = 1e-12

// promptBuilder returns the prompt embeddings [k, ch.length, W] of the
// classes of ch. With train false it must not record a graph (it uses
// detached parameters), with train true gradients reach the trainables.
type promptBuilder func(ch chunk, train bool) *autograd.Var

// logitScale is exp(logit_scale) in float32, as logit_scale.exp().
func logitScale(m *clip.CLIP) float32 {
	return float32(math.Exp(float64(m.LogitScale.Value.Item())))
}

// normalizeRows returns x / ‖x‖ along the last axis.
func normalizeRows(x *autograd.Var) *autograd.Var { return autograd.L2Normalize(x, -1, normEps) }

// logitsOf is scale · x · normalize(t)ᵀ: x [B, E] normalized image
// features, t [n_cls, E] raw text features → [B, n_cls].
func logitsOf(x, t *autograd.Var, scale float32) *autograd.Var {
	return autograd.MulScalar(autograd.MatMulT(x, normalizeRows(t), false, true), scale) // [B, E]·[E, n_cls]
}

// scatterRows copies the rows of src [k, E] to rows cls of dst [n, E].
func scatterRows(dst, src *tensor.Tensor, cls []int) {
	e := dst.Dim(1)
	d, s := dst.Data(), src.Contiguous().Data()
	for i, c := range cls {
		copy(d[c*e:(c+1)*e], s[i*e:(i+1)*e])
	}
}

// textFeatures encodes every class prompt without a graph and returns the
// raw text features [n_cls, E], chunk by chunk.
func textFeatures(m *clip.CLIP, cp *classPrompts, size int, build promptBuilder) *tensor.Tensor {
	out := tensor.New(cp.n(), m.EmbedDim)
	for _, ch := range cp.chunks(size) {
		f := m.EncodeTextEmbeddings(build(ch, false), cp.chunkIDs(ch)) // [k, E]
		scatterRows(out, f.Value, ch.cls)
	}
	return out
}

// lossBackward computes loss = CE(scale · x · normalize(t)ᵀ, labels), t the
// text features of build's prompts for all classes and x [B, E] the
// (constant) normalized image features, and backpropagates weight · d loss
// into the trainables build's prompts depend on. It returns the loss and the
// logits [B, n_cls].
//
// With one chunk the graph covers all classes. With several, the features
// are first computed without a graph, the loss gradient d loss/d t is taken
// on them, and each chunk is then recomputed with a graph and backpropagated
// with its rows of that gradient: two forward passes, but the activations
// of only one chunk alive at a time.
func lossBackward(m *clip.CLIP, cp *classPrompts, size int, x *tensor.Tensor, labels []int, weight float32, build promptBuilder) (float32, *tensor.Tensor) {
	chs := cp.chunks(size)
	scale := logitScale(m)
	xv := autograd.Constant(x)
	if len(chs) == 1 {
		t := m.EncodeTextEmbeddings(build(chs[0], true), cp.chunkIDs(chs[0])) // [n_cls, E]
		logits := logitsOf(xv, t, scale)
		loss := autograd.CrossEntropy(logits, labels)
		loss.BackwardWith(tensor.Full(weight, loss.Shape()...))
		return loss.Value.Item(), logits.Value
	}
	tv := autograd.Param(textFeatures(m, cp, size, build)) // [n_cls, E], leaf
	logits := logitsOf(xv, tv, scale)
	loss := autograd.CrossEntropy(logits, labels)
	loss.BackwardWith(tensor.Full(weight, loss.Shape()...))
	dt := tv.Grad // d(weight·loss)/dt, [n_cls, E]
	for _, ch := range chs {
		f := m.EncodeTextEmbeddings(build(ch, true), cp.chunkIDs(ch))
		f.BackwardWith(tensor.IndexSelect(dt, 0, ch.cls))
	}
	return loss.Value.Item(), logits.Value
}

// imageFeatures is normalize(encode_image(images)) [B, E], no graph (the
// weights are frozen and images need no gradient).
func imageFeatures(m *clip.CLIP, images *tensor.Tensor) *tensor.Tensor {
	return normalizeRows(m.EncodeImage(images)).Value
}
