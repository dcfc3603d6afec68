package devicecheck

import (
	"context"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// hashCLIP returns a CLIP of configuration cfg with hash weights, moved to
// dev.
func hashCLIP(t testing.TB, cfg clip.Config, dev tensor.Device) *clip.CLIP {
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
	return clip.HashTensor("devicecheck.images", 1, 0, n, 3, r, r)
}

// CLIP compares a CLIP of configuration cfg with hash weights on dev
// against the same model on the CPU (clip.NewHashCLIP): both towers'
// features and gradients (the pixels', the prompt embeddings'), the
// logits, the shared-prefix text entry point (the CPU takes its packed
// shortcut, the device its full route: the same features and gradients up
// to rounding) and plain inference under NoGrad; each within rel.
func CLIP(t testing.TB, dev tensor.Device, cfg clip.Config, rel float64) {
	cpu, gpu := hashCLIP(t, cfg, tensor.CPU), hashCLIP(t, cfg, dev)
	if gpu.Device() != dev || !gpu.Text.FullRoute() {
		t.Fatalf("model on %v (full text route %v), want %v", gpu.Device(), gpu.Text.FullRoute(), dev)
	}
	images := Images(cfg, 2)
	ids, err := clip.Tokenize([]string{"a photo of a dog.", "a red circle on a white background", "x"}, cfg.ContextLength, false)
	if err != nil {
		t.Fatal(err)
	}
	imgSeed, txtSeed := rnd(1, 2, cfg.EmbedDim), rnd(2, 3, cfg.EmbedDim)
	type result struct {
		img, pixGrad, txt, promptGrad, logits *tensor.Tensor
		shared, prefixGrad, suffixGrad, plain *tensor.Tensor
	}
	run := func(m *clip.CLIP) (r result) {
		d := m.Device()
		err := tensor.Try(func() {
			x := autograd.Param(to(t, images, d))
			img := m.Visual.Forward(x, nil)
			img.BackwardWith(to(t, imgSeed, d))
			p := autograd.Param(m.TokenEmbedding(ids).Value.Clone())
			txt := m.EncodeTextEmbeddings(p, ids)
			txt.BackwardWith(to(t, txtSeed, d))
			r.img, r.pixGrad, r.txt, r.promptGrad = img.Value, x.Grad, txt.Value, p.Grad
			r.logits = m.LogitsPerImage(img, txt).Value

			// Shared prefix: 2 groups (the first 2 positions of row 0,
			// shifted per group) × 3 class suffixes.
			cut := clip.CutAfterEOT(ids)
			emb := m.TokenEmbedding(cut).Value // [3, L, W]
			l := emb.Dim(1)
			base := emb.Slice(0, 0, 1).Slice(1, 0, 2) // [1, 2, W]
			shift := to(t, rnd(3, 2, 1, cfg.TransformerWidth), d)
			prefix := autograd.Param(tensor.Add(base, tensor.MulScalar(shift, 0.01))) // [2, 2, W]
			suffix := autograd.Param(emb.Slice(1, 2, l).Clone())                      // [3, L−2, W]
			sh := m.EncodeTextShared(prefix, suffix, cut)                             // [2, 3, E]
			sh.BackwardWith(to(t, rnd(4, 2, 3, cfg.EmbedDim), d))
			r.shared, r.prefixGrad, r.suffixGrad = sh.Value, prefix.Grad, suffix.Grad

			autograd.NoGrad(func() { r.plain = m.EncodeText(ids).Value })
		})
		if err != nil {
			t.Fatalf("CLIP on %v: %v", d, err)
		}
		return r
	}
	want, got := run(cpu), run(gpu)
	onDevice(t, "image features", got.img, dev)
	Compare(t, "CLIP image features", got.img, want.img, rel)
	Compare(t, "CLIP ∂pixels", got.pixGrad, want.pixGrad, rel)
	Compare(t, "CLIP text features", got.txt, want.txt, rel)
	Compare(t, "CLIP ∂prompt embeddings", got.promptGrad, want.promptGrad, rel)
	Compare(t, "CLIP logits", got.logits, want.logits, rel)
	Compare(t, "CLIP shared-prefix features", got.shared, want.shared, rel)
	Compare(t, "CLIP shared-prefix ∂prefix", got.prefixGrad, want.prefixGrad, rel)
	Compare(t, "CLIP shared-prefix ∂suffix", got.suffixGrad, want.suffixGrad, rel)
	Compare(t, "CLIP text features (NoGrad)", got.plain, want.plain, rel)
}

// Step is what LearnerStep measured on one device.
type Step struct {
	Loss   float64
	Logits *tensor.Tensor            // the step's training logits [B, n_cls]
	Grads  map[string]*tensor.Tensor // the trainables' gradients before the update (host)
	Params map[string]*tensor.Tensor // the trainables after the update (host)
	Eval   *tensor.Tensor            // evaluation logits after the update [B, n_cls]
}

// RunStep builds the learner of method ("cocoop" or "coop", the paper's
// default settings) on m for names, trains one step (cocoop.Trainer: SGD
// with momentum and weight decay, the finiteness check) on images with
// labels, and evaluates the images.
func RunStep(t testing.TB, m *clip.CLIP, method string, names []string, images *tensor.Tensor, labels []int) Step {
	t.Helper()
	cfg := cocoop.DefaultCoCoOpConfig()
	if method == cocoop.MethodCoOp {
		cfg = cocoop.DefaultCoOpConfig(false)
	}
	cfg.BatchSize = images.Dim(0)
	l, err := cocoop.NewLearner(m, cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cocoop.NewTrainer(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := Step{Grads: map[string]*tensor.Tensor{}, Params: map[string]*tensor.Tensor{}}
	tr.OnBackward = func(cocoop.Progress) {
		for _, p := range nn.Trainable(l, "") {
			st.Grads[p.Name] = to(t, p.Var.Grad, tensor.CPU)
		}
	}
	src := &cocoop.SliceSource{Images: images, Labels: labels, BatchSize: images.Dim(0)}
	es, err := tr.TrainEpoch(context.Background(), src)
	if err != nil {
		t.Fatalf("%s step on %v: %v", method, m.Device(), err)
	}
	st.Loss = es.Loss
	for _, p := range nn.Trainable(l, "") {
		if p.Var.Value.Device() != m.Device() {
			t.Fatalf("%s: trainable %s on %v, the model on %v", method, p.Name, p.Var.Value.Device(), m.Device())
		}
		st.Params[p.Name] = to(t, p.Var.Value, tensor.CPU)
	}
	if err := tensor.Try(func() { st.Eval = l.Logits(images) }); err != nil {
		t.Fatal(err)
	}
	if res, err := l.ForwardBackward(images, labels); err != nil {
		t.Fatal(err)
	} else {
		st.Logits = res.Logits
	}
	return st
}

// LearnerStep trains one step of method on a CLIP of configuration cfg
// with hash weights, on dev and on the CPU from the same initialization,
// and compares the loss, the gradients, the updated trainables and the
// logits (training and evaluation) within rel.
func LearnerStep(t testing.TB, dev tensor.Device, cfg clip.Config, method string, names []string, batch int, rel float64) {
	images := Images(cfg, batch)
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = (3*i + 1) % len(names)
	}
	want := RunStep(t, hashCLIP(t, cfg, tensor.CPU), method, names, images, labels)
	got := RunStep(t, hashCLIP(t, cfg, dev), method, names, images, labels)
	CompareFloat(t, method+" loss", got.Loss, want.Loss, rel)
	for k, g := range want.Grads {
		Compare(t, method+" ∂"+k, got.Grads[k], g, rel)
	}
	for k, p := range want.Params {
		Compare(t, method+" "+k+" after the step", got.Params[k], p, rel)
	}
	Compare(t, method+" logits after the step", got.Logits, want.Logits, rel)
	Compare(t, method+" evaluation logits", got.Eval, want.Eval, rel)
}
