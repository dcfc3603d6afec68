// Package cliptest holds the device-against-CPU check of CLIP (CLIP: both
// towers' features and gradients, the logits, the shared-prefix entry
// point) and the hash models and images it and cocoop/cocooptest build.
// It runs on the fake device of tensor/devicetest in clip's tests and on
// the GPU in the CUDA test binary of bench/cuda; the comparisons are
// tensor/devicetest's Compare.
package cliptest

import (
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// Tiny is make_parity.py's TINY configuration.
var Tiny = clip.Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 2, VisionWidth: 128, VisionHeads: 2,
	VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2,
}

// HashCLIP returns a CLIP of configuration cfg with hash weights
// (clip.NewHashCLIP), moved to dev.
func HashCLIP(t testing.TB, cfg clip.Config, dev tensor.Device) *clip.CLIP {
	t.Helper()
	m, err := clip.NewHashCLIP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.To(dev); err != nil {
		t.Fatal(err)
	}
	return m
}

// Images returns n hash images [n, 3, R, R] for cfg (host).
func Images(cfg clip.Config, n int) *tensor.Tensor {
	r := cfg.ImageResolution
	return clip.HashTensor("devicecheck.images", 1, 0, n, 3, r, r) // the key predates this package
}

// CLIP compares a CLIP of configuration cfg with hash weights on dev
// against the same model on the CPU (clip.NewHashCLIP): both towers'
// features and gradients (the pixels', the prompt embeddings'), the
// logits, the shared-prefix text entry point by both of its routes (the
// packed shortcut, and the full route of TextTransformer.FullPrompts) and
// plain inference under NoGrad; each within rel.
func CLIP(t testing.TB, dev tensor.Device, cfg clip.Config, rel float64) {
	t.Helper()
	to := func(x *tensor.Tensor, d tensor.Device) *tensor.Tensor { t.Helper(); return devicetest.To(t, x, d) }
	cpu, gpu := HashCLIP(t, cfg, tensor.CPU), HashCLIP(t, cfg, dev)
	if gpu.Device() != dev {
		t.Fatalf("model on %v, want %v", gpu.Device(), dev)
	}
	images := Images(cfg, 2)
	ids, err := clip.Tokenize([]string{"a photo of a dog.", "a red circle on a white background", "x"}, cfg.ContextLength, false)
	if err != nil {
		t.Fatal(err)
	}
	imgSeed, txtSeed := devicetest.Randn(1, 2, cfg.EmbedDim), devicetest.Randn(2, 3, cfg.EmbedDim)
	type result struct {
		img, pixGrad, txt, promptGrad, logits *tensor.Tensor
		shared, prefixGrad, suffixGrad        [2]*tensor.Tensor // the packed shortcut, the full route
		plain                                 *tensor.Tensor
	}
	run := func(m *clip.CLIP) (r result) {
		d := m.Device()
		err := tensor.Try(func() {
			x := autograd.Param(to(images, d))
			img := m.Visual.Forward(x, nil)
			img.BackwardWith(to(imgSeed, d))
			p := autograd.Param(m.TokenEmbedding(ids).Value.Clone())
			txt := m.EncodeTextEmbeddings(p, ids)
			txt.BackwardWith(to(txtSeed, d))
			r.img, r.pixGrad, r.txt, r.promptGrad = img.Value, x.Grad, txt.Value, p.Grad
			r.logits = m.LogitsPerImage(img, txt).Value

			// Shared prefix: 2 groups (the first 2 positions of row 0,
			// shifted per group) × 3 class suffixes.
			cut := clip.CutAfterEOT(ids)
			emb := m.TokenEmbedding(cut).Value // [3, L, W]
			l := emb.Dim(1)
			base := emb.Slice(0, 0, 1).Slice(1, 0, 2) // [1, 2, W]
			shift := to(devicetest.Randn(3, 2, 1, cfg.TransformerWidth), d)
			saved := m.Text.FullPrompts
			for i, full := range []bool{false, true} {
				m.Text.FullPrompts = full
				prefix := autograd.Param(tensor.Add(base, tensor.MulScalar(shift, 0.01))) // [2, 2, W]
				suffix := autograd.Param(emb.Slice(1, 2, l).Clone())                      // [3, L−2, W]
				sh := m.EncodeTextShared(prefix, suffix, cut)                             // [2, 3, E]
				sh.BackwardWith(to(devicetest.Randn(4, 2, 3, cfg.EmbedDim), d))
				r.shared[i], r.prefixGrad[i], r.suffixGrad[i] = sh.Value, prefix.Grad, suffix.Grad
			}
			m.Text.FullPrompts = saved

			autograd.NoGrad(func() { r.plain = m.EncodeText(ids).Value })
		})
		if err != nil {
			t.Fatalf("CLIP on %v: %v", d, err)
		}
		return r
	}
	want, got := run(cpu), run(gpu)
	devicetest.OnDevice(t, "image features", got.img, dev)
	devicetest.Compare(t, "CLIP image features", got.img, want.img, rel)
	devicetest.Compare(t, "CLIP ∂pixels", got.pixGrad, want.pixGrad, rel)
	devicetest.Compare(t, "CLIP text features", got.txt, want.txt, rel)
	devicetest.Compare(t, "CLIP ∂prompt embeddings", got.promptGrad, want.promptGrad, rel)
	devicetest.Compare(t, "CLIP logits", got.logits, want.logits, rel)
	for i, route := range []string{"shortcut", "full route"} {
		devicetest.Compare(t, "CLIP shared-prefix features, "+route, got.shared[i], want.shared[i], rel)
		devicetest.Compare(t, "CLIP shared-prefix ∂prefix, "+route, got.prefixGrad[i], want.prefixGrad[i], rel)
		devicetest.Compare(t, "CLIP shared-prefix ∂suffix, "+route, got.suffixGrad[i], want.suffixGrad[i], rel)
	}
	devicetest.Compare(t, "CLIP text features (NoGrad)", got.plain, want.plain, rel)
}
