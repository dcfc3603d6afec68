package cocoop

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"sort"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

const (
	gradTol = 1e-4 // relative (max abs diff / max abs) for gradients and logits
	lossTol = 1e-4 // relative, per step
)

// parityCoCoOp builds the fixture's CoCoOp: TINY hash CLIP, word init, the
// hashed meta-net, the fixture's class names; full selects the full text
// route (clip.TextTransformer.FullPrompts) instead of the shortcut.
func parityCoCoOp(t *testing.T, f *fixture, chunk int, full bool) *CoCoOp {
	t.Helper()
	var names []string
	f.JSON(t, "class_names", &names)
	cfg := DefaultCoCoOpConfig()
	cfg.ChunkSize = chunk
	m := tinyCLIP(t)
	setFullPrompts(t, m, full)
	c, err := NewCoCoOp(m, cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	sd := f.initParams(t)
	sd["ctx"] = c.Prompt.Ctx.Value.Clone()
	if err := LoadParams(c, sd); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParityPrompts(t *testing.T) {
	f := readFixture(t, "cocoop_tiny.safetensors")
	c := parityCoCoOp(t, f, 0, false)
	var rows [][]int32
	f.JSON(t, "token_rows", &rows)
	for i, want := range rows {
		if got := c.classes.ids[i][:len(want)]; !slices.Equal(got, want) {
			t.Errorf("class %q: tokens %v, reference %v", c.classes.names[i], got, want)
		}
	}
	if !bitsEqual(c.Prompt.Ctx.Value, f.Get(t, "init.ctx")) {
		t.Errorf("word init ctx differs from the reference's")
	}
	if c.Prompt.NCtx != 4 || c.Prompt.PromptPrefix != "a photo of a" {
		t.Errorf("n_ctx %d, prefix %q", c.Prompt.NCtx, c.Prompt.PromptPrefix)
	}
}

func TestParityGradients(t *testing.T) {
	f := readFixture(t, "cocoop_tiny.safetensors")
	var labels []int
	f.JSON(t, "labels", &labels)
	images := f.input(t, "cocoop.images")
	// Chunk 0: one graph over all classes; chunk 2: the two-pass path with
	// classes sorted by length in 3 chunks. The text-tower shortcut (the
	// default) and the full route (FullPrompts) both match the reference.
	for _, full := range []bool{false, true} {
		for _, chunk := range []int{0, 2} {
			name := fmt.Sprintf("chunk%d", chunk)
			if full {
				name += "/full-prompts"
			}
			t.Run(name, func(t *testing.T) { parityGradients(t, f, chunk, full, images, labels) })
		}
	}
}

func parityGradients(t *testing.T, f *fixture, chunk int, full bool, images *tensor.Tensor, labels []int) {
	c := parityCoCoOp(t, f, chunk, full)
	feats := c.ImageFeatures(images)
	report := map[string]float64{}
	report["image.features"] = f.Compare(t, "image.features", feats, gradTol)
	report["pi"] = f.Compare(t, "pi", c.Prompt.Pi(autograd.Constant(feats), false).Value, gradTol)
	res, err := c.ForwardBackward(images, labels)
	if err != nil {
		t.Fatal(err)
	}
	report["logits"] = f.Compare(t, "logits", res.Logits, gradTol)
	report["logits.eval"] = f.Compare(t, "logits", c.Logits(images), gradTol)
	report["loss"] = f.Compare(t, "loss", tensor.FromSlice([]float32{float32(res.Loss)}, 1), lossTol)
	for name, g := range gradsOf(c) {
		report["grad."+name] = f.Compare(t, "grad."+name, g, gradTol)
	}
	keys := make([]string, 0, len(report))
	for k := range report {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-32s rel err %.2e", k, report[k])
	}
}

// TestParityTenSteps trains 10 SGD steps (batch 1, 5 epochs of 2 steps with
// the CoCoOp schedule) and compares every loss and the final parameters.
func TestParityTenSteps(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full-prompts=%v", full), func(t *testing.T) { parityTenSteps(t, full) })
	}
}

func parityTenSteps(t *testing.T, full bool) {
	f := readFixture(t, "cocoop_tiny.safetensors")
	var labels []int
	f.JSON(t, "train_labels", &labels)
	c := parityCoCoOp(t, f, 0, full)
	cfg := c.Config()
	fmt.Sscan(f.Meta["epochs"], &cfg.Epochs)
	tr, err := NewTrainer(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var lrs []float32
	tr.OnStep = func(p Progress) { lrs = append(lrs, float32(p.LR)) }
	var steps int
	fmt.Sscan(f.Meta["steps_per_epoch"], &steps)
	src := &epochWindows{SliceSource{Images: f.input(t, "cocoop.train.images"), Labels: labels, BatchSize: 1}, steps}
	if err := tr.Train(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	want := f.Get(t, "train.losses").ToSlice()
	if len(tr.Losses) != len(want) {
		t.Fatalf("%d steps, reference %d", len(tr.Losses), len(want))
	}
	if !slices.Equal(lrs, f.Get(t, "train.lrs").ToSlice()) {
		t.Errorf("lrs %v, reference %v", lrs, f.Get(t, "train.lrs").ToSlice())
	}
	worst := 0.0
	for i, l := range tr.Losses {
		e := math.Abs(l-float64(want[i])) / math.Abs(float64(want[i]))
		worst = max(worst, e)
		t.Logf("step %d: loss %.6f reference %.6f rel err %.2e", i, l, want[i], e)
		if !(e <= lossTol) {
			t.Errorf("step %d: loss %.7g, reference %.7g (rel err %.2e)", i, l, want[i], e)
		}
	}
	t.Logf("worst step loss rel err %.2e", worst)
	for name, p := range paramsOf(c) {
		e := f.Compare(t, "train."+name, p, gradTol)
		t.Logf("final %-26s rel err %.2e", name, e)
	}
}

// epochWindows yields images [e·n, (e+1)·n) in epoch e, in order.
type epochWindows struct {
	all SliceSource
	n   int
}

func (w *epochWindows) NumBatches() int { return w.n }

func (w *epochWindows) Batches(ctx context.Context, epoch int) iter.Seq2[Batch, error] {
	lo := epoch * w.n
	s := SliceSource{Images: w.all.Images.Slice(0, lo, lo+w.n), Labels: w.all.Labels[lo : lo+w.n], BatchSize: 1}
	return s.Batches(ctx, 0)
}

// TestFiniteDifferences checks d loss/d ctx and d loss/d meta-net for a
// batch of 2 images against float32 central differences: on the two
// largest-gradient elements of each parameter (Richardson-extrapolated from
// steps h and 2h, which cancels the h² error that the logit scale of 100
// makes large), and along the gradient direction of each parameter, where
// the directional derivative ‖g‖ is largest relative to float32 noise.
func TestFiniteDifferences(t *testing.T) {
	f := readFixture(t, "cocoop_tiny.safetensors")
	var labels []int
	f.JSON(t, "labels", &labels)
	c := parityCoCoOp(t, f, 0, false)
	images := f.input(t, "cocoop.images")
	feats := c.ImageFeatures(images)
	lossAt := func() float64 {
		var l float32
		autograd.NoGrad(func() { l = autograd.CrossEntropy(c.Forward(feats), labels).Value.Item() })
		return float64(l)
	}
	if _, err := c.ForwardBackward(images, labels); err != nil {
		t.Fatal(err)
	}
	// central returns (L(θ + h·dir) − L(θ − h·dir)) / 2h for data += h·dir.
	central := func(data []float32, dir []float32, h float32) float64 {
		x := slices.Clone(data)
		for i := range data {
			data[i] = x[i] + h*dir[i]
		}
		lp := lossAt()
		for i := range data {
			data[i] = x[i] - h*dir[i]
		}
		lm := lossAt()
		copy(data, x)
		return (lp - lm) / float64(2*h)
	}
	richardson := func(data, dir []float32, h float32) float64 {
		return (4*central(data, dir, h) - central(data, dir, 2*h)) / 3
	}
	for _, p := range c.NamedParameters("") {
		g := p.Var.Grad.ToSlice()
		data := p.Var.Value.Data()
		idx := make([]int, len(g))
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return math.Abs(float64(g[idx[a]])) > math.Abs(float64(g[idx[b]])) })
		for _, i := range idx[:2] {
			dir := make([]float32, len(data))
			dir[i] = 1
			fd := richardson(data, dir, 2e-3*max(1, float32(math.Abs(float64(data[i])))))
			e := math.Abs(fd-float64(g[i])) / math.Abs(float64(g[i]))
			t.Logf("%s[%d]: analytic %.6g, central difference %.6g (rel err %.2e)", p.Name, i, g[i], fd, e)
			if !(e <= 2e-2) {
				t.Errorf("%s[%d]: analytic %.6g, central difference %.6g (rel err %.2e > 2e-2)", p.Name, i, g[i], fd, e)
			}
		}
		gn := norm(p.Var.Grad)
		dir := make([]float32, len(g))
		for i, v := range g {
			dir[i] = float32(float64(v) / gn)
		}
		fd := richardson(data, dir, 2e-3)
		e := math.Abs(fd-gn) / gn
		t.Logf("%s along its gradient: ‖g‖ %.6g, central difference %.6g (rel err %.2e)", p.Name, gn, fd, e)
		if !(e <= 5e-3) {
			t.Errorf("%s along its gradient: ‖g‖ %.6g, central difference %.6g (rel err %.2e > 5e-3)", p.Name, gn, fd, e)
		}
	}
}
