package clip

import (
	"fmt"
	"testing"
	"time"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/nn"
	"github.com/gocoop/gocoop/tensor"
)

// hashTextModel builds a CLIP with only the text tower of cfg, hash weights
// (no vision weights: the packed path never needs them).
func hashTextModel(cfg Config) *CLIP {
	p := func(name string, _ nn.Init, shape ...int) *autograd.Var {
		scale, offset := HashInit(name, shape)
		return autograd.Constant(HashTensor(name, scale, offset, shape...))
	}
	return &CLIP{Config: cfg, Text: newTextTransformer(cfg, p)}
}

// sharedCase is a batch of CoCoOp/CoOp-style prompts: G groups (images)
// with a prefix of 1 + nCtx positions, K classes whose names have different
// token counts, context length l.
type sharedCase struct {
	g, k, nCtx, l int
	prefix        bool // false: no shared prefix (P = 0), the suffix holds whole prompts
}

// sharedInputs draws the prefix [G, P, W] and suffix [K, L−P, W] (both
// trainable) and the class token rows "SOS X…X name… . EOT 0…".
func sharedInputs(c sharedCase, w int, seed uint64) (prefix, suffix *autograd.Var, ids [][]int32) {
	rng := tensor.NewRNG(seed)
	p := 0
	if c.prefix {
		p = 1 + c.nCtx
		prefix = autograd.Param(rng.Normal(0, 0.02, c.g, p, w))
	}
	suffix = autograd.Param(rng.Normal(0, 0.02, c.k, c.l-p, w))
	for ci := range c.k {
		row := []int32{SOTToken}
		for range c.nCtx {
			row = append(row, 343)
		}
		for j := range 1 + (ci*5+2)%6 { // 1..6 name tokens
			row = append(row, int32(1000+37*ci+j))
		}
		row = append(row, 269, EOTToken)
		ids = append(ids, append(row, make([]int32, c.l-len(row))...))
	}
	return prefix, suffix, ids
}

// plainShared is the reference: the G·K full prompts as one leaf
// [G·K, L, W] through EncodeTextEmbeddings, its gradient folded back onto
// the prefix (sum over each group's classes) and the suffix (sum over
// groups).
func plainShared(m *CLIP, c sharedCase, prefix, suffix *autograd.Var, ids [][]int32, w *tensor.Tensor) (feat, gPrefix, gSuffix *tensor.Tensor) {
	width := m.TransformerWidth
	p := 0
	if prefix != nil {
		p = prefix.Shape()[1]
	}
	full := tensor.New(c.g*c.k, c.l, width)
	var all [][]int32
	for g := range c.g {
		for ci := range c.k {
			n := g*c.k + ci
			if p > 0 {
				full.Index(0, n).Slice(0, 0, p).CopyFrom(prefix.Value.Index(0, g))
			}
			full.Index(0, n).Slice(0, p, c.l).CopyFrom(suffix.Value.Index(0, ci))
			all = append(all, ids[ci])
		}
	}
	prompts := autograd.Param(full)
	f := m.EncodeTextEmbeddings(prompts, all) // [G·K, E]
	f.BackwardWith(w.Reshape(c.g*c.k, -1))
	gr := prompts.Grad.Reshape(c.g, c.k, c.l, width)
	gSuffix = tensor.Sum(gr.Slice(2, p, c.l), []int{0}, false) // [K, L−P, W]
	if p > 0 {
		gPrefix = tensor.Sum(gr.Slice(2, 0, p), []int{1}, false) // [G, P, W]
	}
	return f.Value.Reshape(c.g, c.k, -1), gPrefix, gSuffix
}

// checkShared runs the packed path, the plain path and, if asked, the
// assembled (FullPrompts) path on the same inputs and compares features
// and gradients, ≤ 1e-5 relative.
func checkShared(t *testing.T, m *CLIP, c sharedCase, assembled bool) {
	t.Helper()
	start := time.Now()
	prefix, suffix, ids := sharedInputs(c, m.TransformerWidth, 42)
	w := tensor.NewRNG(43).Normal(0, 1, c.g, c.k, m.EmbedDim)
	fPlain, gpPlain, gsPlain := plainShared(m, c, prefix, suffix, ids, w)
	modes := []bool{false}
	if assembled {
		modes = append(modes, true)
	}
	for _, full := range modes {
		if prefix != nil {
			prefix.ZeroGrad()
		}
		suffix.ZeroGrad()
		m.Text.FullPrompts = full
		f := m.EncodeTextShared(prefix, suffix, ids)
		m.Text.FullPrompts = false
		if !tensor.SameShape(f.Shape(), []int{c.g, c.k, m.EmbedDim}) {
			t.Fatalf("features %v, want [%d %d %d]", f.Shape(), c.g, c.k, m.EmbedDim)
		}
		f.BackwardWith(w)
		ef, es := tensor.RelErr(f.Value, fPlain), tensor.RelErr(suffix.Grad, gsPlain)
		ep := 0.0
		if prefix != nil {
			ep = tensor.RelErr(prefix.Grad, gpPlain)
		}
		t.Logf("FullPrompts=%v: relative error features %.2e, prefix gradient %.2e, suffix gradient %.2e", full, ef, ep, es)
		if !(ef <= 1e-5 && ep <= 1e-5 && es <= 1e-5) {
			t.Errorf("FullPrompts=%v: differs from the plain path: features %.2e, prefix gradient %.2e, suffix gradient %.2e (relative)", full, ef, ep, es)
		}
	}
	t.Logf("%v", time.Since(start).Round(time.Millisecond))
}

// TestEncodeTextSharedMatchesPlain: the packed text path equals
// EncodeTextEmbeddings on the explicit 77-token prompts (features, prefix
// and suffix gradients), for CoCoOp batches (3 images × 4 classes), CoOp
// (one group) and no prefix at all, on the tiny text tower and on a wider
// one with several heads.
func TestEncodeTextSharedMatchesPlain(t *testing.T) {
	wide := tinyConfig
	wide.TransformerWidth, wide.TransformerHeads, wide.EmbedDim = 128, 4, 48
	for _, cfg := range []struct {
		name string
		cfg  Config
	}{{"tiny", tinyConfig}, {"wide", wide}} {
		m := hashTextModel(cfg.cfg)
		for _, c := range []sharedCase{
			{g: 3, k: 4, nCtx: 4, l: 77, prefix: true},  // CoCoOp batch
			{g: 1, k: 5, nCtx: 16, l: 77, prefix: true}, // CoOp, 16 context vectors
			{g: 1, k: 4, nCtx: 4, l: 20},                // no shared prefix, shorter context
		} {
			t.Run(fmt.Sprintf("%s/G%d-K%d-ctx%d-prefix%v", cfg.name, c.g, c.k, c.nCtx, c.prefix), func(t *testing.T) {
				checkShared(t, m, c, true)
			})
		}
	}
}

// TestEncodeTextSharedViTB16 is the check at the real text tower size
// (hash weights), 2 images × 5 classes.
func TestEncodeTextSharedViTB16(t *testing.T) {
	if testing.Short() {
		t.Skip("ViT-B/16 text tower: a few seconds")
	}
	checkShared(t, hashTextModel(ViTB16), sharedCase{g: 2, k: 5, nCtx: 4, l: 77, prefix: true}, false)
}

// TestEncodeTextEmbeddingsShared: the drop-in on full prompts built as
// CoCoOp builds them (ctx broadcast with Expand) gives EncodeTextEmbeddings'
// features and ctx gradient, and rejects prompts whose prefixes differ.
func TestEncodeTextEmbeddingsShared(t *testing.T) {
	m := hashTextModel(tinyConfig)
	c := sharedCase{g: 1, k: 4, nCtx: 4, l: 77, prefix: true}
	_, suffix, ids := sharedInputs(c, 64, 1)
	suffix.SetRequiresGrad(false)
	rng := tensor.NewRNG(2)
	sos := autograd.Constant(rng.Normal(0, 0.02, 1, 1, 64))
	ctx := autograd.Param(rng.Normal(0, 0.02, c.nCtx, 64))
	w := rng.Normal(0, 1, c.k, 32)
	run := func(shared bool) (feat, grad *tensor.Tensor) {
		ctx.ZeroGrad()
		prompts := autograd.Concat([]*autograd.Var{
			autograd.Expand(sos, c.k, 1, 64),
			autograd.Expand(autograd.Unsqueeze(ctx, 0), c.k, c.nCtx, 64),
			suffix,
		}, 1) // [K, 77, W]
		var f *autograd.Var
		if shared {
			f = m.EncodeTextEmbeddingsShared(prompts, ids, 1+c.nCtx)
		} else {
			f = m.EncodeTextEmbeddings(prompts, ids)
		}
		f.BackwardWith(w)
		return f.Value, ctx.Grad
	}
	f0, g0 := run(false)
	f1, g1 := run(true)
	ef, eg := tensor.RelErr(f1, f0), tensor.RelErr(g1, g0)
	t.Logf("relative error features %.2e, ctx gradient %.2e", ef, eg)
	if !(ef <= 1e-5 && eg <= 1e-5) {
		t.Errorf("drop-in differs: features %.2e, ctx gradient %.2e", ef, eg)
	}

	bad := autograd.Constant(tensor.NewRNG(3).Normal(0, 1, 2, 77, 64))
	defer func() {
		if r := recover(); r == nil {
			t.Error("prompts with different prefixes accepted")
		}
	}()
	m.EncodeTextEmbeddingsShared(bad, ids[:2], 5)
}

// TestEncodeTextSharedTrace: the packed trace maps back onto the plain
// one: block outputs at each prompt's rows and attention maps up to its
// EOT equal the plain path's.
func TestEncodeTextSharedTrace(t *testing.T) {
	m := hashTextModel(tinyConfig)
	c := sharedCase{g: 2, k: 3, nCtx: 4, l: 77, prefix: true}
	prefix, suffix, ids := sharedInputs(c, 64, 5)
	eot := EOTPositions(ids)

	m.Trace = &Trace{RecordAttn: true}
	m.Text.FullPrompts = true
	m.EncodeTextShared(prefix, suffix, ids)
	plain := m.Trace.Text
	m.Trace = &Trace{RecordAttn: true}
	m.Text.FullPrompts = false
	m.EncodeTextShared(prefix, suffix, ids)
	packed := m.Trace.Text
	m.Trace = nil

	if plain.Rows != nil || len(packed.Rows) != c.g*c.k {
		t.Fatalf("Rows: plain %d prompts, packed %d; want none and %d", len(plain.Rows), len(packed.Rows), c.g*c.k)
	}
	p, rows := 1+c.nCtx, c.g*(1+c.nCtx) // one prefix per group, then each prompt's positions P..EOT
	for range c.g {
		for _, e := range eot {
			rows += e - p + 1
		}
	}
	if r := packed.Blocks[0].Shape()[0]; r != rows {
		t.Errorf("packed trace has %d rows, want %d", r, rows)
	}
	var worstX, worstA float64
	for i := range packed.Blocks {
		pb, xb := packed.Blocks[i].Value, plain.Blocks[i].Value // [R, W], [G·K, 77, W]
		pa, xa := packed.Attn[i], plain.Attn[i]                 // [G·K, H, L', L'], [G·K, H, 77, 77]
		for n, rows := range packed.Rows {
			e := eot[n%c.k]
			if len(rows) != e+1 {
				t.Fatalf("prompt %d: %d rows, want %d", n, len(rows), e+1)
			}
			want := xb.Index(0, n).Slice(0, 0, e+1)
			worstX = max(worstX, tensor.RelErr(tensor.IndexSelect(pb, 0, rows), want))
			worstA = max(worstA, tensor.MaxAbsDiff(
				pa.Index(0, n).Slice(1, 0, e+1).Slice(2, 0, e+1),
				xa.Index(0, n).Slice(1, 0, e+1).Slice(2, 0, e+1)))
		}
	}
	t.Logf("block outputs relative error %.2e, attention probabilities %.2e", worstX, worstA)
	if worstX > 1e-5 || worstA > 1e-5 {
		t.Errorf("packed trace differs: block outputs %.2e, attention %.2e", worstX, worstA)
	}
}

// TestTextEOTLastBlock: the untraced shared route, whose last block
// computes the EOT rows only, gives the traced route's features (every
// row of every block) bit for bit, and their gradients with respect to
// the prefix and the suffix.
func TestTextEOTLastBlock(t *testing.T) {
	m := hashTextModel(tinyConfig)
	c := sharedCase{g: 2, k: 3, nCtx: 4, l: 77, prefix: true}
	run := func(traced bool) (*tensor.Tensor, *tensor.Tensor, *tensor.Tensor) {
		prefix, suffix, ids := sharedInputs(c, 64, 5)
		m.Trace = nil
		if traced {
			m.Trace = &Trace{}
		}
		defer func() { m.Trace = nil }()
		out := m.EncodeTextShared(prefix, suffix, ids) // [G, K, E]
		g := tensor.NewRNG(9).Normal(0, 1, out.Shape()...)
		out.BackwardWith(g)
		if traced && len(m.Trace.Text.Blocks) != tinyConfig.TransformerLayers {
			t.Fatalf("the traced forward kept %d blocks", len(m.Trace.Text.Blocks))
		}
		return out.Value, prefix.Grad, suffix.Grad
	}
	o, gp, gs := run(false)
	ot, gpt, gst := run(true)
	if d := tensor.MaxAbsDiff(o, ot); d != 0 {
		t.Errorf("features differ from the traced route's by %g", d)
	}
	if ep, es := tensor.RelErr(gp, gpt), tensor.RelErr(gs, gst); !(ep <= 1e-6 && es <= 1e-6) {
		t.Errorf("gradients differ from the traced route's: prefix %.2e, suffix %.2e (relative)", ep, es)
	}
}

// TestTextLastBlockStaleRecordFlag: a record flag left on the last text
// block (a traced pass that panicked inside it, before the trace cleared
// it) is turned off by the next untraced pass, as runBlocks does for the
// image tower: else that block would run whole and hold its graph
// (LastHeads) until the next traced pass.
func TestTextLastBlockStaleRecordFlag(t *testing.T) {
	m := hashTextModel(tinyConfig)
	last := m.Text.Transformer.Resblocks[len(m.Text.Transformer.Resblocks)-1]
	last.Attn.RecordAttn, last.RecordBranches = true, true // stale
	prefix, suffix, ids := sharedInputs(sharedCase{g: 2, k: 3, nCtx: 4, l: 77, prefix: true}, 64, 5)
	m.EncodeTextShared(prefix, suffix, ids)
	if last.Attn.RecordAttn || last.Attn.LastHeads != nil || last.LastMLPBranch != nil {
		t.Errorf("the untraced shared route left the last block recording (RecordAttn %v) and holding its graph (LastHeads %v)", last.Attn.RecordAttn, last.Attn.LastHeads != nil)
	}
}

func TestEncodeTextSharedErrors(t *testing.T) {
	m := hashTextModel(tinyConfig)
	prefix, suffix, ids := sharedInputs(sharedCase{g: 1, k: 2, nCtx: 4, l: 77, prefix: true}, 64, 1)
	short := [][]int32{append([]int32{SOTToken, 1, EOTToken}, make([]int32, 74)...), ids[1]}
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"eot-in-prefix", func() { m.EncodeTextShared(prefix, suffix, short) }},
		{"suffix-length", func() { m.EncodeTextShared(prefix, autograd.Slice(suffix, 1, 0, 70), ids) }},
		{"ids-count", func() { m.EncodeTextShared(prefix, suffix, ids[:1]) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				t.Log(r)
			}()
			c.f()
		})
	}
}

// TestTracePerPrompt: the trace's per-prompt view is the same with the
// shortcut on and off, values and gradients: block outputs, heads and
// residual branches mapped back with PerPrompt, their retained gradients
// too (a shared prefix row holding the sum over its group's prompts); the
// plain route's attention probabilities are graph nodes.
func TestTracePerPrompt(t *testing.T) {
	m := hashTextModel(tinyConfig)
	c := sharedCase{g: 2, k: 3, nCtx: 2, l: 77, prefix: true}
	prefix, suffix, ids := sharedInputs(c, 64, 9)
	eot := EOTPositions(ids)
	w := tensor.NewRNG(10).Normal(0, 1, c.g, c.k, tinyConfig.EmbedDim)
	run := func(full bool) TowerTrace {
		m.Trace = &Trace{RecordAttn: true}
		m.Text.FullPrompts = full
		f := m.EncodeTextShared(prefix, suffix, ids)
		tr := m.Trace.Text
		m.Trace, m.Text.FullPrompts = nil, false
		for i := range tr.Blocks {
			tr.Blocks[i].RetainGrad()
			tr.MLPBranch[i].RetainGrad()
		}
		f.BackwardWith(w)
		return tr
	}
	plain, packed := run(true), run(false)
	if len(plain.Probs) != len(plain.Blocks) || packed.Probs != nil {
		t.Fatalf("Probs: plain %d, packed %d; want one per block and none", len(plain.Probs), len(packed.Probs))
	}
	p := 1 + c.nCtx
	var worstV, worstG float64
	compare := func(what string, pk, pl *tensor.Tensor, grad bool) {
		v := packed.PerPrompt(pk) // [G·K, L', ...]
		for n := range c.g * c.k {
			e := eot[n%c.k]
			want := pl.Index(0, n).Slice(0, 0, e+1)
			if grad { // the shared rows: the sum over the group's prompts
				g0 := n / c.k * c.k
				sum := tensor.Zeros(want.Slice(0, 0, p).Shape()...)
				for k := range c.k {
					sum.AddInPlace(pl.Index(0, g0+k).Slice(0, 0, p))
				}
				want = tensor.Concat([]*tensor.Tensor{sum, want.Slice(0, p, e+1)}, 0)
			}
			got := v.Index(0, n).Slice(0, 0, e+1)
			if rest := v.Index(0, n).Slice(0, e+1, v.Dim(1)); tensor.MaxAbsDiff(rest, tensor.Zeros(rest.Shape()...)) != 0 {
				t.Errorf("%s: prompt %d not zero after its EOT", what, n)
			}
			r := tensor.RelErr(got, want)
			if grad {
				worstG = max(worstG, r)
			} else {
				worstV = max(worstV, r)
			}
		}
	}
	for i := range plain.Blocks {
		compare("blocks", packed.Blocks[i].Value, plain.Blocks[i].Value, false)
		compare("attn branch", packed.AttnBranch[i].Value, plain.AttnBranch[i].Value, false)
		compare("heads", packed.Heads[i].Value, plain.Heads[i].Value.Permute(0, 2, 1, 3), false) // [N, H, L, d] -> [N, L, H, d]
		compare("block grads", packed.Blocks[i].Grad, plain.Blocks[i].Grad, true)
		compare("mlp branch grads", packed.MLPBranch[i].Grad, plain.MLPBranch[i].Grad, true)
	}
	t.Logf("per-prompt view: values %.2e, gradients %.2e relative error", worstV, worstG)
	if worstV > 1e-5 || worstG > 1e-4 {
		t.Errorf("per-prompt views differ: values %.2e, gradients %.2e", worstV, worstG)
	}
	if plain.PerPrompt(plain.Blocks[0].Value) != plain.Blocks[0].Value {
		t.Error("PerPrompt of a plain trace is not the identity")
	}
}

// CutAfterEOT keeps every row up to the batch's last EOT, as views.
func TestCutAfterEOT(t *testing.T) {
	ids := [][]int32{{49406, 5, 49407, 0, 0, 0}, {49406, 5, 6, 7, 49407, 0}}
	got := CutAfterEOT(ids)
	if len(got) != 2 || len(got[0]) != 5 || len(got[1]) != 5 || &got[0][0] != &ids[0][0] {
		t.Fatalf("CutAfterEOT: %v", got)
	}
	if got[1][4] != 49407 {
		t.Errorf("the longest row's EOT was cut: %v", got[1])
	}
	if out := CutAfterEOT(nil); len(out) != 0 {
		t.Errorf("CutAfterEOT(nil) = %v", out)
	}
}
