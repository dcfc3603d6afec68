package cocoop

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/nn/optim"
	"github.com/gocoop/gocoop/tensor"
)

var testNames = []string{"Abyssinian", "Boeing 737-200", "Yorkshire_Terrier", "baby_back_ribs", "X", "great pyrenees"}

// testImages returns n hashed images for the TINY CLIP and labels i mod k.
func testImages(n, k int, name string) (*tensor.Tensor, []int) {
	r := tinyConfig.ImageResolution
	labels := make([]int, n)
	for i := range labels {
		labels[i] = (i * 7) % k
	}
	return clip.HashTensor(name, 1, 0, n, 3, r, r), labels
}

// smallConfig is a quick CoCoOp run: random init, 2 epochs.
func smallConfig() Config {
	cfg := DefaultCoCoOpConfig()
	cfg.CtxInit = ""
	cfg.NCtx = 4
	cfg.Epochs = 2
	cfg.Seed = 7
	return cfg
}

func trainRun(t *testing.T, cfg Config, epochs int, resumeFrom string, saveTo string) (*Trainer, Learner) {
	t.Helper()
	l, err := NewLearner(tinyCLIP(t), cfg, testNames)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if resumeFrom != "" {
		ck, err := LoadCheckpoint(resumeFrom)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Resume(ck); err != nil {
			t.Fatal(err)
		}
	}
	imgs, labels := testImages(6, len(testNames), "cocoop.test.train")
	src := &SliceSource{Images: imgs, Labels: labels, BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed}
	for tr.Epoch < epochs {
		if _, err := tr.TrainEpoch(context.Background(), src); err != nil {
			t.Fatal(err)
		}
	}
	if saveTo != "" {
		if err := tr.SaveCheckpoint(saveTo); err != nil {
			t.Fatal(err)
		}
	}
	return tr, l
}

func TestDeterministic(t *testing.T) {
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		t.Run(method, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Method = method
			if method == MethodCoOp {
				cfg.BatchSize = 4
			}
			a, la := trainRun(t, cfg, 2, "", "")
			b, lb := trainRun(t, cfg, 2, "", "")
			if len(a.Losses) == 0 || !slices.Equal(a.Losses, b.Losses) {
				t.Fatalf("losses differ between runs with the same seed:\n%v\n%v", a.Losses, b.Losses)
			}
			pa, pb := paramsOf(la), paramsOf(lb)
			for k := range pa {
				if !bitsEqual(pa[k], pb[k]) {
					t.Errorf("%s differs", k)
				}
			}
			cfg.Seed++
			c, _ := trainRun(t, cfg, 1, "", "")
			if slices.Equal(a.Losses[:len(c.Losses)], c.Losses) {
				t.Errorf("another seed gave the same losses")
			}
		})
	}
}

func TestResume(t *testing.T) {
	dir := t.TempDir()
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		t.Run(method, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Method = method
			if method == MethodCoOp {
				cfg.BatchSize = 4
			}
			straight, ls := trainRun(t, cfg, 2, "", "")
			path := filepath.Join(dir, method+".safetensors")
			first, _ := trainRun(t, cfg, 1, "", path)
			resumed, lr := trainRun(t, cfg, 2, path, "")
			if resumed.Opt.Steps() != straight.Opt.Steps() {
				t.Errorf("steps %d after resume, %d straight", resumed.Opt.Steps(), straight.Opt.Steps())
			}
			got := append(slices.Clone(first.Losses), resumed.Losses...)
			if !slices.Equal(got, straight.Losses) {
				t.Errorf("losses 1 + resume 1:\n%v\nstraight:\n%v", got, straight.Losses)
			}
			ps, pr := paramsOf(ls), paramsOf(lr)
			for k := range ps {
				if !bitsEqual(ps[k], pr[k]) {
					t.Errorf("%s: final bits differ after resume", k)
				}
			}
		})
	}
}

func TestCheckpointAnyClassList(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	_, l := trainRun(t, cfg, 1, "", filepath.Join(dir, "a.safetensors"))
	ck, err := LoadCheckpoint(filepath.Join(dir, "a.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Meta.Config.Method != MethodCoCoOp || ck.Meta.Epoch != 1 || ck.Meta.Config.Seed != cfg.Seed || ck.Meta.Config.NCtx != 4 ||
		ck.Meta.OptimSteps != 6 || len(ck.Momentum) != 5 || !slices.Equal(ck.Meta.ClassNames, testNames) {
		t.Errorf("metadata %+v, %d momentum buffers", ck.Meta, len(ck.Momentum))
	}
	if len(ck.Params) != 5 {
		t.Errorf("params %v", sortedKeys(ck.Params))
	}
	// Another class list (cross-dataset use): the learned parameters carry
	// over, the buffers are rebuilt.
	other := []string{"sea_lake", "forest"}
	l2, err := ck.NewLearner(tinyCLIP(t), other)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range paramsOf(l) {
		if !bitsEqual(v, paramsOf(l2)[k]) {
			t.Errorf("%s not restored", k)
		}
	}
	imgs, _ := testImages(2, 2, "cocoop.test.eval")
	if s := l2.Logits(imgs).Shape(); !slices.Equal(s, []int{2, 2}) {
		t.Errorf("logits %v", s)
	}
	// The same classes as the original learner give the same logits.
	if err := l2.SetClassNames(testNames); err != nil {
		t.Fatal(err)
	}
	if !bitsEqual(l.Logits(imgs), l2.Logits(imgs)) {
		t.Errorf("reloaded learner's logits differ")
	}
	// A model of other dimensions is refused with a clear error.
	cfg2 := tinyConfig
	cfg2.TransformerWidth = 128
	cfg2.TransformerHeads = 2
	m2, err := clip.NewHashCLIP(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.NewLearner(m2, other); err == nil || !strings.Contains(err.Error(), "text width 64") {
		t.Errorf("mismatched model: %v", err)
	}
	// Not a prompt checkpoint.
	if _, err := LoadCheckpoint(filepath.Join("testdata", "cocoop_tiny.safetensors")); err == nil {
		t.Errorf("fixture accepted as a checkpoint")
	}
}

func TestCSC(t *testing.T) {
	cfg := DefaultCoOpConfig(false)
	cfg.CtxInit, cfg.NCtx, cfg.CSC = "", 4, true
	c, err := NewCoOp(tinyCLIP(t), cfg, testNames)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Ctx.Shape(); !slices.Equal(s, []int{len(testNames), 4, tinyConfig.TransformerWidth}) {
		t.Fatalf("CSC ctx %v", s)
	}
	if err := c.SetClassNames(testNames[:2]); err == nil {
		t.Errorf("CSC accepted another class count")
	}
	dir := t.TempDir()
	if err := SaveCheckpoint(filepath.Join(dir, "csc.safetensors"), c, nil, 0); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(filepath.Join(dir, "csc.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ck.NewLearner(tinyCLIP(t), []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), "class-specific") {
		t.Errorf("CSC checkpoint on 2 classes: %v", err)
	}
	// Word init ignores CSC, as the official code.
	cfg.CtxInit = DefaultCtxInit
	c, err = NewCoOp(tinyCLIP(t), cfg, testNames)
	if err != nil || c.CSC || c.Ctx.Value.NDim() != 2 {
		t.Errorf("word init with CSC: %v", err)
	}
}

// TestCoOpPositions checks the prompt assembly: with ctx set to the
// embedding of "X", the front/middle/end prompts must equal the embedded
// texts "{name} X X X X.", "X X {name} X X." and "X X X X {name}.".
func TestCoOpPositions(t *testing.T) {
	m := tinyCLIP(t)
	for _, csc := range []bool{false, true} {
		for _, pos := range []string{PositionEnd, PositionMiddle, PositionFront} {
			cfg := DefaultCoOpConfig(false)
			cfg.CtxInit, cfg.NCtx, cfg.CSC, cfg.ClassTokenPosition = "", 4, csc, pos
			c, err := NewCoOp(m, cfg, testNames)
			if err != nil {
				t.Fatal(err)
			}
			x := m.TokenEmbedding([][]int32{{343}}).Value.Reshape(-1) // "X"
			c.Ctx.Value.CopyFrom(x.Expand(c.Ctx.Shape()...))
			texts := make([]string, len(testNames))
			for i, n := range testNames {
				n = PromptName(n)
				texts[i] = map[string]string{PositionEnd: "X X X X " + n + ".", PositionMiddle: "X X " + n + " X X.", PositionFront: n + " X X X X."}[pos]
			}
			ids, err := clip.Tokenize(texts, 77, false)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ids {
				ids[i] = ids[i][:c.classes.length]
			}
			want := m.TokenEmbedding(ids).Value
			for _, size := range []int{0, 4} {
				for _, ch := range c.classes.chunks(size) {
					got := c.build(ch, false).Value
					exp := tensor.IndexSelect(want, 0, ch.cls).Slice(1, 0, ch.length)
					if !bitsEqual(got, exp) {
						t.Errorf("csc %v, %s, chunk %v: prompts differ from the embedded texts", csc, pos, ch.cls)
					}
				}
			}
		}
	}
}

// TestChunkingExact checks that chunked encoding (classes sorted by length,
// prompts cut after each chunk's last EOT, two-pass gradients) gives the
// same logits and gradients as one graph over the full 77-token prompts.
func TestChunkingExact(t *testing.T) {
	m := tinyCLIP(t)
	imgs, labels := testImages(3, len(testNames), "cocoop.test.chunk")
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		for _, pos := range []string{PositionEnd, PositionMiddle} {
			if method == MethodCoCoOp && pos != PositionEnd {
				continue
			}
			cfg := smallConfig()
			cfg.Method, cfg.ClassTokenPosition = method, pos
			var ref StepResult
			var refGrads map[string]*tensor.Tensor
			for _, size := range []int{0, 1, 4, 64} { // 64: several images per eval text call
				cfg.ChunkSize = size
				l, err := NewLearner(m, cfg, testNames)
				if err != nil {
					t.Fatal(err)
				}
				res, err := l.ForwardBackward(imgs, labels)
				if err != nil {
					t.Fatal(err)
				}
				eval := l.Logits(imgs)
				if e := tensor.RelErr(eval, res.Logits); e > 1e-6 {
					t.Errorf("%s/%s chunk %d: eval logits vs training logits rel err %.2e", method, pos, size, e)
				}
				if size == 0 {
					ref, refGrads = res, gradsOf(l)
					full := fullLogits(t, l, imgs)
					if e := tensor.RelErr(res.Logits, full); e > 1e-5 {
						t.Errorf("%s/%s: trimmed logits vs full 77-token logits rel err %.2e", method, pos, e)
					}
					continue
				}
				if e := math.Abs(res.Loss-ref.Loss) / ref.Loss; e > 1e-5 {
					t.Errorf("%s/%s chunk %d: loss %v vs %v", method, pos, size, res.Loss, ref.Loss)
				}
				for k, g := range gradsOf(l) {
					if e := tensor.RelErr(g, refGrads[k]); e > 1e-5 {
						t.Errorf("%s/%s chunk %d: grad %s rel err %.2e", method, pos, size, k, e)
					}
				}
			}
		}
	}
}

// fullLogits recomputes l's logits the naive way: untrimmed 77-token
// prompts assembled here and run through the plain EncodeTextEmbeddings,
// one image at a time.
func fullLogits(t *testing.T, l Learner, imgs *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	m := l.CLIP()
	var cp *classPrompts
	switch v := l.(type) {
	case *CoCoOp:
		cp = v.classes
	case *CoOp:
		cp = v.classes
	}
	// Pad every buffer to 77 positions with the embedding of token 0.
	pad := m.ContextLength - cp.length
	zero := m.TokenEmbedding([][]int32{make([]int32, pad)}).Value // [1, pad, W]
	full := *cp
	full.length = m.ContextLength
	full.suffix = tensor.Concat([]*tensor.Tensor{cp.suffix, zero.Expand(cp.n(), pad, zero.Dim(2))}, 1)
	full.ids = make([][]int32, cp.n())
	for i, r := range cp.ids {
		full.ids[i] = append(slices.Clone(r), make([]int32, pad)...)
	}
	feats := l.ImageFeatures(imgs)
	all := full.chunks(0)[0]
	var out *tensor.Tensor
	switch v := l.(type) {
	case *CoCoOp:
		sh := v.shifted(feats, false).Value // [B, n_ctx, W]
		rows := make([]*tensor.Tensor, feats.Dim(0))
		for i := range rows {
			t := m.EncodeTextEmbeddings(v.builder(&full, autograd.Constant(sh.Index(0, i)))(all, false), full.chunkIDs(all))
			rows[i] = logitsOf(autograd.Constant(feats.Slice(0, i, i+1)), t, logitScale(m)).Value // [1, n_cls]
		}
		out = tensor.Concat(rows, 0)
	case *CoOp:
		saved := v.classes
		v.classes = &full
		t := m.EncodeTextEmbeddings(v.build(all, false), full.chunkIDs(all))
		out = logitsOf(autograd.Constant(feats), t, logitScale(m)).Value
		v.classes = saved
	}
	return out
}

// TestCoOpFiniteDifference checks CoOp's gradient (generic and CSC, each
// position) along the gradient direction.
func TestCoOpFiniteDifference(t *testing.T) {
	m := tinyCLIP(t)
	imgs, labels := testImages(3, len(testNames), "cocoop.test.coopfd")
	for _, csc := range []bool{false, true} {
		for _, pos := range []string{PositionEnd, PositionMiddle, PositionFront} {
			cfg := DefaultCoOpConfig(false)
			cfg.CtxInit, cfg.NCtx, cfg.CSC, cfg.ClassTokenPosition = "", 4, csc, pos
			c, err := NewCoOp(m, cfg, testNames)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ForwardBackward(imgs, labels); err != nil {
				t.Fatal(err)
			}
			feats := c.ImageFeatures(imgs)
			g := c.Ctx.Grad.ToSlice()
			gn := norm(c.Ctx.Grad)
			data := c.Ctx.Value.Data()
			x := slices.Clone(data)
			at := func(h float32) float64 {
				for i := range data {
					data[i] = x[i] + h*float32(float64(g[i])/gn)
				}
				var l float32
				autograd.NoGrad(func() { l = autograd.CrossEntropy(c.Forward(feats), labels).Value.Item() })
				copy(data, x)
				return float64(l)
			}
			d := func(h float32) float64 { return (at(h) - at(-h)) / float64(2*h) }
			fd := (4*d(2e-3) - d(4e-3)) / 3
			if e := math.Abs(fd-gn) / gn; !(e <= 5e-3) {
				t.Errorf("CoOp csc %v %s: ‖g‖ %.6g, central difference %.6g (rel err %.2e)", csc, pos, gn, fd, e)
			}
		}
	}
}

func TestZeroShot(t *testing.T) {
	m := tinyCLIP(t)
	imgs, _ := testImages(2, 2, "cocoop.test.zs")
	names := []string{"sea_lake", "Annual Crop Land", "forest"}
	tpls := []string{"a photo of a {}.", "a centered satellite photo of {}."}
	z, err := NewZeroShot(m, tpls, names)
	if err != nil {
		t.Fatal(err)
	}
	// Reference: full 77-token rows through EncodeText, mean of normalized
	// features, renormalized.
	sum := tensor.New(len(names), m.EmbedDim)
	for _, tpl := range tpls {
		var texts []string
		for _, n := range names {
			texts = append(texts, strings.ReplaceAll(tpl, "{}", strings.ReplaceAll(n, "_", " ")))
		}
		ids, err := clip.Tokenize(texts, 77, false)
		if err != nil {
			t.Fatal(err)
		}
		sum.AddInPlace(normalizeRows(m.EncodeText(ids)).Value)
	}
	want := normalizeRows(autograd.Constant(sum)).Value
	if e := tensor.RelErr(z.TextFeatures(), want); e > 1e-5 {
		t.Errorf("ensemble features rel err %.2e", e)
	}
	img := normalizeRows(m.EncodeImage(imgs)).Value
	wantLogits := tensor.MulScalar(tensor.MatMulT(img, want, false, true), 100)
	if e := tensor.RelErr(z.Logits(imgs), wantLogits); e > 1e-5 {
		t.Errorf("logits rel err %.2e", e)
	}
	z1, err := NewZeroShotForDataset(m, "EuroSAT", false, names)
	if err != nil || len(z1.Templates) != 1 || z1.Templates[0] != "a centered satellite photo of {}." {
		t.Errorf("EuroSAT template: %v %v", z1.Templates, err)
	}
	if _, err := NewZeroShot(m, []string{"no placeholder"}, names); err == nil {
		t.Errorf("template without {} accepted")
	}
	var _ Classifier = z
}

func TestEvaluate(t *testing.T) {
	m := tinyCLIP(t)
	imgs, labels := testImages(5, 3, "cocoop.test.evaluate")
	z, err := NewZeroShot(m, []string{"a photo of a {}."}, testNames[:3])
	if err != nil {
		t.Fatal(err)
	}
	r, err := Evaluate(context.Background(), z, &SliceSource{Images: imgs, Labels: labels, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	pred := tensor.Argmax(z.Logits(imgs), 1)
	k := 0
	for i := range pred {
		if pred[i] == labels[i] {
			k++
		}
	}
	if r.Total != 5 || r.Correct != k || !slices.Equal(r.Preds, pred) || r.Accuracy != 100*float64(k)/5 {
		t.Errorf("evaluate %+v, want %d correct of preds %v", r, k, pred)
	}
}

func TestNonFiniteStops(t *testing.T) {
	cfg := smallConfig()
	c, err := NewCoCoOp(tinyCLIP(t), cfg, testNames)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Prompt.Ctx.Value.Data()[3] = float32(math.NaN())
	imgs, labels := testImages(2, len(testNames), "cocoop.test.nan")
	_, err = tr.TrainEpoch(context.Background(), &SliceSource{Images: imgs, Labels: labels, BatchSize: 1})
	if err == nil || !strings.Contains(err.Error(), "epoch 1/") || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("NaN context: %v", err)
	}
	if tr.Opt.Steps() != 0 {
		t.Errorf("optimizer stepped on a NaN loss")
	}
}

func TestSchedule(t *testing.T) {
	cfg := DefaultCoCoOpConfig()
	want := []float64{1e-5, 0.002, 0.0019511, 0.0018090, 0.0015878, 0.0013090, 0.0010000, 0.00069098, 0.00041221, 0.00019098}
	for e, w := range want {
		if got := cfg.LRSchedule().LR(e); math.Abs(got-w) > 1e-7 {
			t.Errorf("epoch %d: lr %v, want %v", e, got, w)
		}
	}
	cfg.Schedule = optim.Cosine{MaxEpoch: 10, BaseLR: 1}
	if cfg.LRSchedule().LR(0) != 1 {
		t.Errorf("schedule override ignored")
	}
	coop := DefaultCoOpConfig(false)
	if coop.BatchSize != 32 || coop.Epochs != 200 || DefaultCoOpConfig(true).Epochs != 50 {
		t.Errorf("CoOp defaults %+v", coop)
	}
}

func TestConfigErrors(t *testing.T) {
	m := tinyCLIP(t)
	bad := []func(*Config){
		func(c *Config) { c.Method = "nope" },
		func(c *Config) { c.CSC = true },
		func(c *Config) { c.ClassTokenPosition = "middle" },
		func(c *Config) { c.CtxInit, c.NCtx = "", 0 },
		func(c *Config) { c.Epochs = 0 },
	}
	for i, f := range bad {
		cfg := DefaultCoCoOpConfig()
		f(&cfg)
		if _, err := NewLearner(m, cfg, testNames); err == nil {
			t.Errorf("bad config %d accepted", i)
		}
	}
	if _, err := NewCoCoOp(m, DefaultCoCoOpConfig(), nil); err == nil {
		t.Errorf("empty class list accepted")
	}
	long := strings.Repeat("dog ", 80)
	if _, err := NewCoCoOp(m, DefaultCoCoOpConfig(), []string{long}); err == nil {
		t.Errorf("over-long class name accepted")
	}
}

func TestFrozenCLIP(t *testing.T) {
	m := tinyCLIP(t)
	c, err := NewCoCoOp(m, smallConfig(), testNames)
	if err != nil {
		t.Fatal(err)
	}
	imgs, labels := testImages(2, len(testNames), "cocoop.test.frozen")
	if _, err := c.ForwardBackward(imgs, labels); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.NamedParameters("") {
		if p.Var.RequiresGrad() || p.Var.Grad != nil {
			t.Fatalf("CLIP parameter %s has a gradient", p.Name)
		}
	}
	names := []string{}
	total := 0
	for _, p := range c.NamedParameters("") {
		names = append(names, p.Name)
		total += p.Var.Value.Numel()
	}
	want := []string{"ctx", "meta_net.linear1.weight", "meta_net.linear1.bias", "meta_net.linear2.weight", "meta_net.linear2.bias"}
	if !slices.Equal(names, want) {
		t.Errorf("parameter names %v, want %v", names, want)
	}
	// TINY: 4·64 + 2·32 + 2 + 64·2 + 64.
	if total != 4*64+2*32+2+64*2+64 {
		t.Errorf("%d trainables", total)
	}
}

func TestContextCancel(t *testing.T) {
	cfg := smallConfig()
	c, _ := NewCoCoOp(tinyCLIP(t), cfg, testNames)
	tr, _ := NewTrainer(c, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	imgs, labels := testImages(2, len(testNames), "cocoop.test.cancel")
	err := tr.Train(ctx, &SliceSource{Images: imgs, Labels: labels, BatchSize: 1})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled training: %v", err)
	}
}
