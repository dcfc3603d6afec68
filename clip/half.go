package clip

import (
	"strings"

	"github.com/gocoop/gocoop/asm"
	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// HalfWeight reports whether the state-dict entry name of the given shape
// is one of CLIP's weight matrices, the entries ConvertWeights stores in
// float16: every Linear, attention in-projection, patch-convolution and
// token-embedding weight, the visual projection and the text projection.
// These are what OpenAI's clip.model.convert_weights makes float16, except
// that biases, layer norms, the class and positional embeddings and the
// logit scale stay float32 here (0.2% of the weights).
func HalfWeight(name string, shape []int) bool {
	switch name {
	case "visual.proj", "text_projection":
		return true
	}
	return len(shape) >= 2 && strings.HasSuffix(name, "weight")
}

// ConvertWeights stores m's weight matrices (HalfWeight) in float16 and
// returns the bytes saved. It is for frozen models, as in CoOp and CoCoOp:
// all arithmetic stays float32, a float16 weight being widened exactly
// where it is read (tensor.Half), so a model loaded from the float16
// OpenAI release computes the same bits after ConvertWeights as before,
// in half the weight memory (ViT-B/16: 598 MB → 300 MB). For float32
// weights it rounds each to the nearest float16 (as PyTorch's .half()). An
// optimizer must not step a converted weight (tensor.DTypeError).
func ConvertWeights(m *CLIP) int64 {
	var saved int64
	for _, p := range m.NamedParameters("") {
		v := p.Var.Value
		if v.DType() == tensor.Float16 || !HalfWeight(p.Name, v.Shape()) {
			continue
		}
		p.Var.Value = v.Half()
		saved += 2 * int64(v.Numel())
	}
	return saved
}

// PrepackImageWeights prepacks the float16 weights of the image tower's
// Linear layers (every attention in- and out-projection and MLP matrix of
// m.Visual) for the CPU's sgemm (tensor.PrepackLinear: stored as the
// micro-panels the kernels read, so no image forward packs a weight again)
// and returns how many it prepacked. The results keep their bits and the
// memory its size; float32 weights are left alone (prepacking rounds to
// float16). For a frozen image tower run forward, as in CoOp, CoCoOp and
// zero-shot: a gradient through a prepacked weight unpacks it at every
// call, and an optimizer refuses it.
func PrepackImageWeights(m *CLIP) int {
	return prepackLinears(m.Visual.Transformer)
}

// PrepackTextWeights is PrepackImageWeights for the text tower (m.Text):
// for evaluation and zero-shot, where the text tower only runs forward. A
// training step passes gradients back through it (CoOp's and CoCoOp's
// prompts), and each would unpack a prepacked weight.
func PrepackTextWeights(m *CLIP) int { return prepackLinears(m.Text.Transformer) }

// prepackLinears prepacks the float16 Linear weights of t's blocks
// (tensor.PrepackLinear) and returns how many it prepacked.
func prepackLinears(t *nn.Transformer) int {
	n := 0
	for _, b := range t.Resblocks {
		for _, w := range []*autograd.Var{b.Attn.InProjWeight, b.Attn.OutProj.Weight, b.MLP.CFc.Weight, b.MLP.CProj.Weight} {
			if w.Value.DType() == tensor.Float16 {
				w.Value = w.Value.PrepackLinear()
				n++
			}
		}
	}
	return n
}

// NewHashCLIPHalf is NewHashCLIP with the weight matrices (HalfWeight)
// generated straight into float16 (each hash value rounded to the nearest
// float16), never held in float32: the model ConvertWeights makes of
// NewHashCLIP's, without its float32 peak. bench/reference rounds the same
// entries with PyTorch's .half().
func NewHashCLIPHalf(cfg Config) (*CLIP, error) {
	sd, err := hashStateDict(cfg, true)
	if err != nil {
		return nil, err
	}
	return hashCLIP(sd)
}

// hashTensorHalf is HashTensor rounded to float16, made in chunks (no
// float32 copy of the whole tensor).
func hashTensorHalf(name string, scale, offset float32, shape ...int) *tensor.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	h := make([]uint16, n)
	const chunk = 1 << 16
	buf := make([]float32, min(n, chunk))
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		hashFillAt(buf[:hi-lo], name, scale, offset, lo)
		asm.NarrowHalf(h[lo:hi], buf[:hi-lo])
	}
	return tensor.FromHalf(h, shape...)
}
