package cocoop

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"slices"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

func TestInspectGradients(t *testing.T) {
	m := tinyCLIP(t)
	c, err := NewCoCoOp(m, DefaultCoCoOpConfig(), testNames)
	if err != nil {
		t.Fatal(err)
	}
	imgs, _ := testImages(2, 1, "cocoop.test.inspect")
	labels := []int{2, 5}
	// The same step through ForwardBackward gives the reference gradients.
	if _, err := c.ForwardBackward(imgs, labels); err != nil {
		t.Fatal(err)
	}
	wantCtx := norm(c.Prompt.Ctx.Grad)
	wantVecs := rowNorms(c.Prompt.Ctx.Grad)
	wantW2 := norm(c.Prompt.Linear2.Weight.Grad)
	clearGrads(c)
	ins, err := InspectGradients(c, imgs, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Prompt.Ctx.Grad != nil || m.Trace != nil || m.Text.FullPrompts {
		t.Errorf("inspection left gradients, a trace or the full route behind")
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Abs(b) }
	if !close(ins.CtxGradNorm, wantCtx) || !close(ins.MetaNet[1].WeightGradNorm, wantW2) {
		t.Errorf("ctx grad norm %v vs %v, linear2 %v vs %v", ins.CtxGradNorm, wantCtx, ins.MetaNet[1].WeightGradNorm, wantW2)
	}
	for i, v := range wantVecs {
		if !close(ins.CtxVecGradNorms[i], v) {
			t.Errorf("context vector %d: grad norm %v, want %v", i, ins.CtxVecGradNorms[i], v)
		}
	}
	if len(ins.Images) != 2 || ins.Layers != tinyConfig.TransformerLayers || ins.Heads != 1 || len(ins.BlockGradNorms) != 2 {
		t.Fatalf("inspection shape: %d images, %d layers, %d heads", len(ins.Images), ins.Layers, ins.Heads)
	}
	var losses float64
	for i, im := range ins.Images {
		losses += im.Loss / 2
		if im.Label != labels[i] || len(im.Classes) != len(testNames) || len(im.Pi) != 64 || len(im.CtxGradNorms) != 4 {
			t.Fatalf("image %d: label %d, %d classes, π %d, %d ctx norms", i, im.Label, len(im.Classes), len(im.Pi), len(im.CtxGradNorms))
		}
		if !close(-math.Log(im.Classes[im.Label].Prob), im.Loss) {
			t.Errorf("image %d: loss %v, −log p(label) %v", i, im.Loss, -math.Log(im.Classes[im.Label].Prob))
		}
		var ps float64
		for _, cl := range im.Classes {
			ps += cl.Prob
			if len(cl.BlockGradNorms) != 2 || len(cl.EOTAttention) != 2 || len(cl.EOTGradAttention) != 2 || len(cl.PromptGradNormPos) != cl.EOT+1 {
				t.Fatalf("class %s: %+v", cl.Name, cl)
			}
			for l, row := range cl.EOTAttention {
				s := 0.0
				for _, v := range row {
					s += v
				}
				if math.Abs(s-1) > 1e-5 {
					t.Errorf("class %s layer %d: EOT attention sums to %v", cl.Name, l, s)
				}
			}
			if cl.BlockGradNorms[0] <= 0 || cl.PromptGradNorm <= 0 || slices.Max(cl.EOTGradAttention[1]) <= 0 {
				t.Errorf("class %s: no gradient", cl.Name)
			}
			// Per position: the squares add up to the block's norm (positions
			// after EOT get no gradient), and the last block passes the
			// gradient to EOT alone.
			for l, row := range cl.BlockGradNormsPos {
				s := 0.0
				for _, v := range row {
					s += v * v
				}
				if len(row) != cl.EOT+1 || !close(math.Sqrt(s), cl.BlockGradNorms[l]) {
					t.Errorf("class %s block %d: position norms %v, block norm %v", cl.Name, l, row, cl.BlockGradNorms[l])
				}
			}
			if last := cl.BlockGradNormsPos[len(cl.BlockGradNormsPos)-1]; slices.Max(last[:cl.EOT]) != 0 || last[cl.EOT] <= 0 {
				t.Errorf("class %s: last block gradient per position %v, want only EOT", cl.Name, last)
			}
			if n := len(cl.Tokens); n != cl.EOT+1 || cl.Tokens[0] != "SOS" || cl.Tokens[1] != "ctx1" || cl.Tokens[n-1] != "EOT" || cl.Tokens[n-2] != "." {
				t.Errorf("class %s: tokens %q", cl.Name, cl.Tokens)
			}
		}
		if math.Abs(ps-1) > 1e-5 {
			t.Errorf("image %d: probabilities sum to %v", i, ps)
		}
	}
	if !close(losses, ins.Loss) {
		t.Errorf("batch loss %v, mean of the images' %v", ins.Loss, losses)
	}
	// Another class list, leaving c's own untouched.
	ins2, err := InspectGradients(c, imgs.Index(0, 0), []int{0}, []string{"dog", "sea_lake", "Boeing 737-200"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins2.Images) != 1 || len(ins2.Images[0].Classes) != 3 || !slices.Equal(c.ClassNames(), testNames) {
		t.Errorf("class list handling")
	}
	var buf bytes.Buffer
	if err := ins.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range rows[1:] {
		kinds[r[0]]++
	}
	n := len(testNames)
	if kinds["block_grad_norm"] != 2*2*n || kinds["pi"] != 2*64 || kinds["meta_weight_grad_norm"] != 2 || kinds["eot_grad_attn"] == 0 ||
		kinds["ctx_vec_grad_norm"] != 4 || kinds["image_ctx_grad_norm"] != 2*4 || kinds["total_block_grad_norm"] != 2 {
		t.Errorf("CSV kinds %v", kinds)
	}
	if _, err := InspectGradients(c, imgs, []int{0, 9}, nil); err == nil {
		t.Errorf("label out of range accepted")
	}
	if _, err := InspectGradients(c, imgs, []int{0}, nil); err == nil {
		t.Errorf("one label for two images accepted")
	}
}

// ForwardTrace gives the same logits as Forward and the same view of the
// prompt internals by either text route; ∂loss/∂π from RetainGrad, from
// autograd.Grad and through the meta-net agree.
func TestForwardTrace(t *testing.T) {
	m := tinyCLIP(t)
	c, err := NewCoCoOp(m, smallConfig(), testNames)
	if err != nil {
		t.Fatal(err)
	}
	imgs, labels := testImages(2, len(testNames), "cocoop.test.trace")
	feats := c.ImageFeatures(imgs)
	var want *tensor.Tensor
	autograd.NoGrad(func() { want = c.Forward(feats).Value })
	b, k := 2, len(testNames)
	traces := map[bool]*PromptTrace{}
	for _, full := range []bool{true, false} {
		setFullPrompts(t, m, full)
		tr := c.ForwardTrace(feats, true)
		traces[full] = tr
		if m.Trace != nil {
			t.Fatal("ForwardTrace left a trace on the model")
		}
		if d := tensor.RelErr(tr.Logits.Value, want); d > 1e-5 {
			t.Errorf("full %v: logits differ from Forward by %.2e", full, d)
		}
		if (tr.Prompts != nil) != full || len(tr.IDs) != k || len(tr.EOT) != k || len(tr.Text.Blocks) != 2 {
			t.Fatalf("full %v: trace %+v", full, tr)
		}
		if got := tr.Text.PerPrompt(tr.Text.Blocks[1].Value).Dim(0); got != b*k {
			t.Errorf("full %v: the trace holds %d prompts, want every image's %d", full, got, b*k)
		}
		tr.Pi.RetainGrad()
		tr.Ctx.RetainGrad()
		tr.Prefix.RetainGrad()
		tr.Text.Blocks[0].RetainGrad()
		if full {
			tr.Prompts.RetainGrad()
		}
		loss := autograd.CrossEntropy(tr.Logits, labels)
		dpi := autograd.Grad([]*autograd.Var{loss}, []*autograd.Var{tr.Pi}, nil)[0]
		loss.Backward()
		if tensor.MaxAbsDiff(dpi, tr.Pi.Grad) != 0 {
			t.Errorf("full %v: autograd.Grad and RetainGrad disagree on ∂loss/∂π", full)
		}
		// π is added to every context vector; the meta-net's last bias adds
		// to π for every image.
		if d := tensor.MaxAbsDiff(tensor.Sum(tr.Ctx.Grad, []int{1}, false), tr.Pi.Grad); d > 1e-6 {
			t.Errorf("full %v: ∂loss/∂π differs from Σ_m ∂loss/∂(ctx_m + π) by %g", full, d)
		}
		if d := tensor.MaxAbsDiff(tensor.Sum(tr.Pi.Grad, []int{0}, false), c.Prompt.Linear2.Bias.Grad); d > 1e-6 {
			t.Errorf("full %v: Σ_b ∂loss/∂π_b differs from linear2.bias's gradient by %g", full, d)
		}
		clearGrads(c)
	}
	full, packed := traces[true], traces[false]
	if d := tensor.RelErr(packed.Prefix.Grad, full.Prefix.Grad); d > 1e-4 {
		t.Errorf("∂loss/∂prefix differs between the routes by %.2e", d)
	}
	// The per-class prompt gradients of the full route, at the shared
	// positions, sum to the prefix's.
	sum := tensor.Sum(full.Prompts.Grad.Slice(2, 0, 1+c.Prompt.NCtx), []int{1}, false) // [B, n_cls, P, W] -> [B, P, W]
	if d := tensor.RelErr(sum, full.Prefix.Grad); d > 1e-5 {
		t.Errorf("prompt gradients at the shared positions do not sum to the prefix's (%.2e)", d)
	}
	// Block 0's gradient at each prompt's own positions is the same by
	// either route once the packed one is mapped back.
	pg, fg := packed.Text.PerPrompt(packed.Text.Blocks[0].Grad), full.Text.Blocks[0].Grad
	p := 1 + c.Prompt.NCtx
	for n := range b * k {
		e := full.EOT[n%k]
		if d := tensor.RelErr(pg.Index(0, n).Slice(0, p, e+1), fg.Index(0, n).Slice(0, p, e+1)); d > 1e-4 {
			t.Errorf("prompt %d: block 0 gradient differs by %.2e", n, d)
		}
	}
}

// The history records every step's gradient before the optimizer uses it.
func TestGradHistory(t *testing.T) {
	cfg := smallConfig()
	cfg.Epochs = 1
	imgs, labels := testImages(2, len(testNames), "cocoop.test.history")
	src := &SliceSource{Images: imgs, Labels: labels, BatchSize: 1}
	c, err := NewCoCoOp(tinyCLIP(t), cfg, testNames)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := NewCoCoOp(tinyCLIP(t), cfg, testNames)
	tr, err := NewTrainer(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var h GradHistory
	tr.OnBackward = h.Recorder(c)
	if err := tr.Train(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if len(h.Steps) != 2 || h.Steps[1].GlobalStep != 2 || len(h.Steps[0].Params) != 5 || len(h.Steps[0].CtxVecGradNorms) != 4 {
		t.Fatalf("history %+v", h.Steps)
	}
	// Step 1's gradient is the fresh learner's on the first batch.
	if _, err := ref.ForwardBackward(tensor.IndexSelect(imgs, 0, src.Order(0)[:1]), []int{labels[src.Order(0)[0]]}); err != nil {
		t.Fatal(err)
	}
	got := h.Steps[0]
	if got.Params[0].Name != "ctx" || got.Params[0].GradNorm != norm(ref.Prompt.Ctx.Grad) || got.Loss != tr.Losses[0] {
		t.Errorf("step 1: %+v, want ctx grad norm %v", got.Params[0], norm(ref.Prompt.Ctx.Grad))
	}
	for m, v := range rowNorms(ref.Prompt.Ctx.Grad) {
		if got.CtxVecGradNorms[m] != v {
			t.Errorf("context vector %d: %v, want %v", m, got.CtxVecGradNorms[m], v)
		}
	}
	var buf bytes.Buffer
	if err := h.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 1+2*(1+2*5+4) {
		t.Errorf("history CSV: %d rows, %v", len(rows), err)
	}
}
