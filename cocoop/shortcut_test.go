package cocoop

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/tensor"
)

// Class names of 1 to 8 BPE tokens (checked by shortcutNames).
var varLenNames = []string{
	"Boeing 737-200", "cat", "one two three four five six seven", "sea lake",
	"baby back ribs", "one two three four five six", "rhinoceros beetle", "red green blue white black",
}

const shortcutTol = 1e-5 // relative (max abs diff / max abs), logits and gradients

// ctxScale is the scale of the random contexts: 15× the N(0, 0.02²) init.
const ctxScale = 0.3

func shortcutNames(t *testing.T) []string {
	t.Helper()
	tok, err := clip.DefaultTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, n := range varLenNames {
		seen[len(tok.Encode(PromptName(n)))] = true
	}
	for l := 1; l <= 8; l++ {
		if !seen[l] {
			t.Fatalf("no class name of %d tokens in %q", l, varLenNames)
		}
	}
	return varLenNames
}

// randomizeParams sets ctx (every context, CSC included) to hashed values
// of scale ctxScale, prompts far from any word (random prompts); the
// meta-net keeps its PyTorch-default random init. (With hashed meta-net
// weights tried first, linear1's gradient came out ~1000× smaller than
// d loss/d π, a cancellation that amplifies float32 rounding: there the
// plain path alone moves linear1's gradient by 6e-6 relative when the
// classes are merely permuted, and the shortcut by up to 3e-5.)
func randomizeParams(l Learner, tag string) {
	for _, p := range l.NamedParameters("") {
		if p.Name == "ctx" {
			p.Var.Value.CopyFrom(clip.HashTensor(tag+"."+p.Name, ctxScale, 0, p.Var.Shape()...))
		}
	}
}

// stepOf runs ForwardBackward and returns the result, the eval logits and
// the gradients (cleared afterwards).
func stepOf(t *testing.T, l Learner, imgs *tensor.Tensor, labels []int) (StepResult, *tensor.Tensor, map[string]*tensor.Tensor) {
	t.Helper()
	for _, p := range l.NamedParameters("") {
		p.Var.ZeroGrad()
	}
	res, err := l.ForwardBackward(imgs, labels)
	if err != nil {
		t.Fatal(err)
	}
	g := map[string]*tensor.Tensor{}
	for _, p := range l.NamedParameters("") {
		g[p.Name] = p.Var.Grad
		p.Var.ZeroGrad()
	}
	return res, l.Logits(imgs), g
}

// compareSteps checks the shortcut's step against the plain one and returns
// the worst relative error.
func compareSteps(t *testing.T, what string, on, off StepResult, onEval, offEval *tensor.Tensor, gOn, gOff map[string]*tensor.Tensor) float64 {
	t.Helper()
	worst := 0.0
	check := func(name string, got, want *tensor.Tensor) {
		if got == nil || want == nil {
			t.Errorf("%s: %s: missing (shortcut %v, plain %v)", what, name, got != nil, want != nil)
			return
		}
		e := tensor.RelErr(got, want)
		worst = max(worst, e)
		if !(e <= shortcutTol) {
			t.Errorf("%s: %s: shortcut vs plain rel err %.2e > %.0e", what, name, e, shortcutTol)
		}
	}
	check("logits", on.Logits, off.Logits)
	check("eval logits", onEval, offEval)
	check("eval vs training logits", onEval, on.Logits)
	check("loss", tensor.FromSlice([]float32{float32(on.Loss)}, 1), tensor.FromSlice([]float32{float32(off.Loss)}, 1))
	for _, k := range sortedKeys(gOff) {
		check("grad "+k, gOn[k], gOff[k])
	}
	return worst
}

// TestShortcutExactCoCoOp runs CoCoOp's shortcut and plain paths on random
// prompts, class names of 1–8 tokens and a batch of 3 images: loss, logits
// (training and evaluation) and the gradients of ctx and every meta-net
// parameter agree, for one graph over all classes (chunk 0), several images
// per call (64), one image per call (8 · length rows fit less than 3
// images) and chunked classes with two-pass gradients (1, 3).
func TestShortcutExactCoCoOp(t *testing.T) {
	m := tinyCLIP(t)
	names := shortcutNames(t)
	imgs, labels := testImages(3, len(names), "cocoop.test.shortcut")
	for _, size := range []int{0, 64, 8, 3, 1} {
		cfg := smallConfig()
		cfg.ChunkSize = size
		res := map[bool]StepResult{}
		eval := map[bool]*tensor.Tensor{}
		grads := map[bool]map[string]*tensor.Tensor{}
		for _, full := range []bool{false, true} {
			setFullPrompts(t, m, full)
			c, err := NewCoCoOp(m, cfg, names)
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(c, "shortcut")
			res[full], eval[full], grads[full] = stepOf(t, c, imgs, labels)
			if !full {
				t.Logf("chunk %d: %d images per text call", size, c.imagesPerCall(c.classes, 3))
			}
		}
		w := compareSteps(t, fmt.Sprintf("chunk %d", size), res[false], res[true], eval[false], eval[true], grads[false], grads[true])
		t.Logf("chunk %d: worst rel err %.2e", size, w)
	}
}

// TestShortcutForward compares CoCoOp's and CoOp's one-graph Forward (all
// images in one EncodeTextShared call) with the plain path, gradients
// included.
func TestShortcutForward(t *testing.T) {
	m := tinyCLIP(t)
	names := shortcutNames(t)
	imgs, labels := testImages(3, len(names), "cocoop.test.shortcut.fwd")
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		var logits [2]*tensor.Tensor
		var grads [2]map[string]*tensor.Tensor
		for i, full := range []bool{false, true} {
			cfg := smallConfig()
			cfg.Method = method
			setFullPrompts(t, m, full)
			l, err := NewLearner(m, cfg, names)
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(l, "fwd")
			var out *autograd.Var
			switch v := l.(type) {
			case *CoCoOp:
				out = v.Forward(v.ImageFeatures(imgs))
			case *CoOp:
				out = v.Forward(v.ImageFeatures(imgs))
			}
			autograd.CrossEntropy(out, labels).Backward()
			logits[i], grads[i] = out.Value, gradsOf(l)
		}
		worst := tensor.RelErr(logits[0], logits[1])
		if worst > shortcutTol {
			t.Errorf("%s Forward: logits rel err %.2e", method, worst)
		}
		for k, g := range grads[1] {
			e := tensor.RelErr(grads[0][k], g)
			t.Logf("%s Forward: grad %s rel err %.2e", method, k, e)
			worst = max(worst, e)
			if e > shortcutTol {
				t.Errorf("%s Forward: grad %s rel err %.2e", method, k, e)
			}
		}
		t.Logf("%s Forward: worst rel err %.2e", method, worst)
	}
}

// TestShortcutExactCoOp does the same for CoOp: class token at the end, in
// the middle and in front, generic and class-specific context.
func TestShortcutExactCoOp(t *testing.T) {
	m := tinyCLIP(t)
	names := shortcutNames(t)
	imgs, labels := testImages(3, len(names), "cocoop.test.shortcut.coop")
	for _, csc := range []bool{false, true} {
		for _, pos := range []string{PositionEnd, PositionMiddle, PositionFront} {
			for _, size := range []int{0, 3} {
				what := fmt.Sprintf("csc %v, %s, chunk %d", csc, pos, size)
				res := map[bool]StepResult{}
				eval := map[bool]*tensor.Tensor{}
				grads := map[bool]map[string]*tensor.Tensor{}
				for _, full := range []bool{false, true} {
					cfg := DefaultCoOpConfig(false)
					cfg.CtxInit, cfg.NCtx, cfg.CSC, cfg.ClassTokenPosition, cfg.ChunkSize = "", 4, csc, pos, size
					setFullPrompts(t, m, full)
					c, err := NewCoOp(m, cfg, names)
					if err != nil {
						t.Fatal(err)
					}
					randomizeParams(c, "coop")
					res[full], eval[full], grads[full] = stepOf(t, c, imgs, labels)
				}
				w := compareSteps(t, what, res[false], res[true], eval[false], eval[true], grads[false], grads[true])
				t.Logf("%s: shared prefix, worst rel err %.2e", what, w)
			}
		}
	}
}

// TestShortcutZeroShot compares zero-shot features with and without the
// shortcut (template words shared, each prompt cut after its EOT).
func TestShortcutZeroShot(t *testing.T) {
	m := tinyCLIP(t)
	names := shortcutNames(t)
	tpls := []string{"a photo of a {}.", "{} in a photo.", "itap of a {}."}
	var feats [2]*tensor.Tensor
	for i, full := range []bool{false, true} {
		setFullPrompts(t, m, full)
		z := &ZeroShot{Model: m, Templates: tpls, ChunkSize: 3}
		if err := z.SetClassNames(names); err != nil {
			t.Fatal(err)
		}
		feats[i] = z.TextFeatures()
	}
	if e := tensor.RelErr(feats[0], feats[1]); e > shortcutTol {
		t.Errorf("zero-shot text features rel err %.2e", e)
	} else {
		t.Logf("zero-shot text features rel err %.2e", e)
	}
}

// TestShortcutTraining trains both paths for two epochs at batch 2: the
// losses stay within float32 rounding of each other.
func TestShortcutTraining(t *testing.T) {
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		cfg := smallConfig()
		cfg.Method, cfg.BatchSize = method, 2
		on, lOn := trainRun(t, cfg, 2, "", "")
		setFullPrompts(t, tinyCLIP(t), true)
		off, lOff := trainRun(t, cfg, 2, "", "")
		setFullPrompts(t, tinyCLIP(t), false)
		for i := range off.Losses {
			if e := math.Abs(on.Losses[i]-off.Losses[i]) / off.Losses[i]; !(e <= 1e-4) {
				t.Errorf("%s step %d: loss %v with the shortcut, %v without", method, i, on.Losses[i], off.Losses[i])
			}
		}
		pOn, pOff := paramsOf(lOn), paramsOf(lOff)
		for k := range pOff {
			if e := tensor.RelErr(pOn[k], pOff[k]); !(e <= 1e-4) {
				t.Errorf("%s: final %s rel err %.2e", method, k, e)
			}
		}
	}
}

// TestOldFullPromptsConfig: a config (or checkpoint) written when
// full_prompts was a prompt-learner setting still loads (the route is now
// the model's switch), and no config writes it.
func TestOldFullPromptsConfig(t *testing.T) {
	var cfg Config
	if err := json.Unmarshal([]byte(`{"method":"cocoop","n_ctx":4,"ctx_init":"a photo of a","full_prompts":true}`), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Method != MethodCoCoOp || cfg.NCtx != 4 || cfg.CacheImageFeatures {
		t.Errorf("old config read as %+v", cfg)
	}
	for _, d := range []Config{DefaultCoCoOpConfig(), DefaultCoOpConfig(false)} {
		b, _ := json.Marshal(d)
		if strings.Contains(string(b), "full_prompts") {
			t.Errorf("default config %s", b)
		}
	}
}

// countEncoder counts the images the image encoder runs on while f runs.
func countEncoder(t *testing.T, f func()) int {
	t.Helper()
	saved := encodeImages
	defer func() { encodeImages = saved }()
	n := 0
	encodeImages = func(m *clip.CLIP, images *tensor.Tensor) *tensor.Tensor {
		n += images.Dim(0)
		return saved(m, images)
	}
	f()
	return n
}

// TestImageFeatureCache checks that the cache gives the same logits and
// training as no cache while the image encoder runs once per distinct
// image, and that training with changing inputs is refused.
func TestImageFeatureCache(t *testing.T) {
	m := tinyCLIP(t)
	imgs, labels := testImages(6, len(testNames), "cocoop.test.train")
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		t.Run(method, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Method, cfg.BatchSize = method, 2
			plain, err := NewLearner(m, cfg, testNames)
			if err != nil {
				t.Fatal(err)
			}
			cfg.CacheImageFeatures = true
			cached, err := NewLearner(m, cfg, testNames)
			if err != nil {
				t.Fatal(err)
			}
			want := plain.Logits(imgs)
			var got1, got2 *tensor.Tensor
			if n := countEncoder(t, func() { got1 = cached.Logits(imgs) }); n != 6 {
				t.Errorf("first evaluation encoded %d images, want 6", n)
			}
			if n := countEncoder(t, func() { got2 = cached.Logits(imgs.Slice(0, 1, 4)) }); n != 0 {
				t.Errorf("second evaluation encoded %d images, want 0", n)
			}
			if !bitsEqual(got1, want) || !bitsEqual(got2, want.Slice(0, 1, 4).Clone()) {
				t.Errorf("cached logits differ from uncached ones")
			}
			if s := ImageCacheStatsOf(cached); s != (ImageCacheStats{Hits: 3, Misses: 6, Entries: 6}) {
				t.Errorf("stats %+v", s)
			}

			// Training (2 epochs, shuffled, no augmentation): every image
			// encoded once, the same losses and parameters as without cache.
			run := func(cfg Config) (*Trainer, Learner, int) {
				l, err := NewLearner(m, cfg, testNames)
				if err != nil {
					t.Fatal(err)
				}
				tr, err := NewTrainer(l, cfg)
				if err != nil {
					t.Fatal(err)
				}
				src := &SliceSource{Images: imgs, Labels: labels, BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed}
				n := countEncoder(t, func() {
					if err := tr.Train(context.Background(), src); err != nil {
						t.Fatal(err)
					}
				})
				return tr, l, n
			}
			trC, lC, nC := run(cfg)
			cfg.CacheImageFeatures = false
			trP, lP, nP := run(cfg)
			if nC != 6 || nP != 6*cfg.Epochs {
				t.Errorf("training encoded %d images with the cache (want 6), %d without (want %d)", nC, nP, 6*cfg.Epochs)
			}
			if fmt.Sprint(trC.Losses) != fmt.Sprint(trP.Losses) {
				t.Errorf("losses with cache %v, without %v", trC.Losses, trP.Losses)
			}
			pc, pp := paramsOf(lC), paramsOf(lP)
			for k := range pp {
				if !bitsEqual(pc[k], pp[k]) {
					t.Errorf("%s differs with the cache", k)
				}
			}

			// Changing inputs (as with random augmentation): refused at the
			// first batch of the second epoch, before its step.
			cfg.CacheImageFeatures = true
			l, err := NewLearner(m, cfg, testNames)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(l, cfg)
			if err != nil {
				t.Fatal(err)
			}
			aug, augLabels := testImages(12, len(testNames), "cocoop.test.aug")
			src := &epochWindows{SliceSource{Images: aug, Labels: augLabels}, 6}
			if _, err := tr.TrainEpoch(context.Background(), src); err != nil {
				t.Fatal(err)
			}
			before := paramsOf(l)["ctx"].Clone()
			_, err = tr.TrainEpoch(context.Background(), src)
			if err == nil || !strings.Contains(err.Error(), "augmentation") {
				t.Errorf("changing inputs with the cache: err %v, want a refusal", err)
			} else {
				t.Logf("refused: %v", err)
			}
			if !bitsEqual(before, paramsOf(l)["ctx"]) {
				t.Errorf("the refused step changed ctx")
			}
		})
	}
}

// TestImageFeaturesMicroBatch: the image tower runs imageBatchCPU images
// at a time on the CPU, and the features are bit for bit those of one
// forward over the whole batch.
func TestImageFeaturesMicroBatch(t *testing.T) {
	m := tinyCLIP(t)
	n := 2*imageBatchCPU + 3
	imgs, _ := testImages(n, 1, "cocoop.test.microbatch")
	want := normalizeRows(m.EncodeImage(imgs)).Value // [n, E], one forward
	got := imageFeatures(m, imgs)
	if !bitsEqual(got, want) {
		t.Fatalf("features of %d images in batches of %d differ from one forward over all of them", n, imageBatchCPU)
	}
}
