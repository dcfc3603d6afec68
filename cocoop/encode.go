package cocoop

import (
	"fmt"
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

// textEncoder returns the raw text features [G, k, E] of the classes of ch
// for each of G prompt groups (CoCoOp: G images, each with its own
// context; CoOp: G = 1). With train false it records no graph.
type textEncoder func(ch chunk, train bool) *autograd.Var

// sos returns the constant SOS embedding [g, 1, W] (token_prefix, the same
// for every class).
func (cp *classPrompts) sos(g int) *autograd.Var {
	p := cp.prefix.Slice(0, 0, 1) // [1, 1, W]
	if g > 1 {
		p = p.Expand(g, 1, p.Dim(2))
	}
	return autograd.Constant(p)
}

// logitScale is exp(logit_scale) in float32, as logit_scale.exp().
func logitScale(m *clip.CLIP) float32 {
	return float32(math.Exp(float64(item(m.LogitScale.Value))))
}

// normalizeRows returns x / ‖x‖ along the last axis.
func normalizeRows(x *autograd.Var) *autograd.Var { return autograd.L2Normalize(x, -1, normEps) }

// logitsOf is scale · x · normalize(t)ᵀ: x [B, E] normalized image
// features, t [n_cls, E] raw text features → [B, n_cls].
func logitsOf(x, t *autograd.Var, scale float32) *autograd.Var {
	return autograd.MulScalar(autograd.MatMulT(x, normalizeRows(t), false, true), scale) // [B, E]·[E, n_cls]
}

// groupLogits is logitsOf for text features of G groups, t [G, n_cls, E]:
// with G = 1 every image uses t[0], otherwise (G = B) image i uses t[i].
func groupLogits(x, t *autograd.Var, scale float32) *autograd.Var {
	g := t.Shape()[0]
	if g == 1 {
		return logitsOf(x, autograd.Squeeze(t, 0), scale)
	}
	if b := x.Shape()[0]; b != g {
		panic(fmt.Sprintf("cocoop: %d images for %d groups of text features", b, g))
	}
	rows := make([]*autograd.Var, g)
	for i := range rows {
		rows[i] = logitsOf(autograd.Slice(x, 0, i, i+1), autograd.Squeeze(autograd.Slice(t, 0, i, i+1), 0), scale) // [1, n_cls]
	}
	return autograd.Concat(rows, 0)
}

// scatterRows copies the rows of src [G, k, E] to rows cls of dst
// [G, n, E].
func scatterRows(dst, src *tensor.Tensor, cls []int) {
	n, e := dst.Dim(1), dst.Dim(2)
	k := len(cls)
	d, s := dst.Data(), src.Contiguous().Data()
	for g := range dst.Dim(0) {
		for i, c := range cls {
			copy(d[(g*n+c)*e:(g*n+c+1)*e], s[(g*k+i)*e:(g*k+i+1)*e])
		}
	}
}

// textFeatures encodes every class prompt without a graph and returns the
// raw text features [G, n_cls, E], chunk by chunk, on the model's device.
func textFeatures(m *clip.CLIP, cp *classPrompts, size int, enc textEncoder) *tensor.Tensor {
	var out *tensor.Tensor
	for _, ch := range cp.chunks(size) {
		f := enc(ch, false).Value // [G, k, E]
		if out == nil {
			out = tensor.ZerosOn(f.Device(), f.Dim(0), cp.n(), m.EmbedDim)
		}
		if onDevice(f) {
			tensor.IndexAdd(out, 1, ch.cls, f) // into zeros: a copy
		} else {
			scatterRows(out, f, ch.cls)
		}
	}
	return out
}

// lossBackward computes loss = CE(logits, labels), the logits [B, n_cls]
// those of the (constant) normalized image features x [B, E] against the
// text features t [G, n_cls, E] of enc's prompts for all classes
// (groupLogits), and backpropagates weight · d loss into the trainables
// enc's prompts depend on. It returns the loss and the logits (on the
// host; x may be a host tensor for a model on a device: it is moved there).
//
// With one chunk the graph covers all classes. With several, the features
// are first computed without a graph, the loss gradient d loss/d t is taken
// on them, and each chunk is then recomputed with a graph and backpropagated
// with its rows of that gradient: two forward passes, but the activations
// of only one chunk alive at a time.
func lossBackward(m *clip.CLIP, cp *classPrompts, size int, x *tensor.Tensor, labels []int, weight float32, enc textEncoder) (float32, *tensor.Tensor) {
	chs := cp.chunks(size)
	scale := logitScale(m)
	dev := m.Device()
	xv := autograd.Constant(toDev(x, dev))
	if len(chs) == 1 {
		t := enc(chs[0], true) // [G, n_cls, E]
		logits := groupLogits(xv, t, scale)
		loss := autograd.CrossEntropy(logits, labels)
		loss.BackwardWith(tensor.FullOn(dev, weight, loss.Shape()...))
		return item(loss.Value), host(logits.Value)
	}
	tv := autograd.Param(textFeatures(m, cp, size, enc)) // [G, n_cls, E], leaf
	logits := groupLogits(xv, tv, scale)
	loss := autograd.CrossEntropy(logits, labels)
	loss.BackwardWith(tensor.FullOn(dev, weight, loss.Shape()...))
	dt := tv.Grad // d(weight·loss)/dt, [G, n_cls, E]
	for _, ch := range chs {
		f := enc(ch, true)
		f.BackwardWith(tensor.IndexSelect(dt, 1, ch.cls))
	}
	return item(loss.Value), host(logits.Value)
}

// imageFeatures is normalize(encode_image(images)) [B, E], no graph (the
// weights are frozen and images need no gradient), on the host: for a
// model on a device the images are moved there and the features back.
//
// On the CPU the tower runs imageBatchCPU images at a time: an image's
// features do not depend on the others in its batch (the same bits,
// TestImageFeaturesMicroBatch), and the sgemm is as fast on 8 images as on
// 100, while a block's activations at the evaluation's batch of 100
// (≈ 0.7 GB) overflow the tensor free lists and come back from the
// operating system as fresh pages on every block (docs/cost_model.md,
// "Large batches and fresh pages").
func imageFeatures(m *clip.CLIP, images *tensor.Tensor) *tensor.Tensor {
	b := images.Dim(0)
	if m.Device() != tensor.CPU || b <= imageBatchCPU {
		return host(normalizeRows(m.EncodeImage(toDev(images, m.Device()))).Value)
	}
	var parts []*tensor.Tensor
	for lo := 0; lo < b; lo += imageBatchCPU {
		batch := images.Slice(0, lo, min(b, lo+imageBatchCPU))           // [≤ imageBatchCPU, 3, H, W]
		parts = append(parts, normalizeRows(m.EncodeImage(batch)).Value) // [≤ imageBatchCPU, E]
	}
	return tensor.Concat(parts, 0) // [B, E]
}

// imageBatchCPU is how many images imageFeatures runs through the image
// tower at once on the CPU.
const imageBatchCPU = 8
