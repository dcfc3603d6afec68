package nn

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// Per-block keys and shapes of docs/clip.md §2.1, in model.py's
// registration order (attn, ln_1, mlp, ln_2), for width D.
func blockKeys(prefix string, d int) ([]string, [][]int) {
	names := []string{
		"attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias",
		"ln_1.weight", "ln_1.bias",
		"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
		"ln_2.weight", "ln_2.bias",
	}
	shapes := [][]int{{3 * d, d}, {3 * d}, {d, d}, {d}, {d}, {d}, {4 * d, d}, {4 * d}, {d, 4 * d}, {d}, {d}, {d}}
	for i := range names {
		names[i] = prefix + names[i]
	}
	return names, shapes
}

func TestParameterNames(t *testing.T) {
	const d = 8
	tr := NewTransformer(Random(nil), "", d, 2, 2, false)
	got := tr.NamedParameters("visual.transformer")
	var want []string
	var shapes [][]int
	for i := 0; i < 2; i++ {
		n, s := blockKeys(fmt.Sprintf("visual.transformer.resblocks.%d.", i), d)
		want, shapes = append(want, n...), append(shapes, s...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d parameters, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Name != want[i] || !tensor.SameShape(got[i].Var.Shape(), shapes[i]) {
			t.Errorf("param %d: %s %v, want %s %v", i, got[i].Name, got[i].Var.Shape(), want[i], shapes[i])
		}
	}
	// A lone block without prefix, and leaf modules.
	b := NewResidualAttentionBlock(Random(nil), "", d, 2, true)
	bn, _ := blockKeys("", d)
	for i, p := range b.NamedParameters("") {
		if p.Name != bn[i] {
			t.Errorf("block param %d: %s, want %s", i, p.Name, bn[i])
		}
	}
	if ps := NewPatchEmbed(Random(nil), "", 3, d, 4).NamedParameters("visual.conv1"); len(ps) != 1 || ps[0].Name != "visual.conv1.weight" ||
		!tensor.SameShape(ps[0].Var.Shape(), []int{d, 3, 4, 4}) {
		t.Errorf("patch embed params %v", ps)
	}
	if ps := NewEmbedding(Random(nil), "", 10, d, 1).NamedParameters("token_embedding"); len(ps) != 1 || ps[0].Name != "token_embedding.weight" {
		t.Errorf("embedding params %v", ps)
	}
	if ps := NewLinear(Random(nil), "", 3, 2, false).NamedParameters("x"); len(ps) != 1 || ps[0].Name != "x.weight" {
		t.Errorf("bias-free linear params %v", ps)
	}
	seq := (&Sequential{}).Add("linear1", NewLinear(Random(nil), "", 8, 2, true)).Add("relu", ReLU{}).Add("linear2", NewLinear(Random(nil), "", 2, 8, true))
	var sn []string
	for _, p := range seq.NamedParameters("prompt_learner.meta_net") {
		sn = append(sn, p.Name)
	}
	if w := "prompt_learner.meta_net.linear1.weight prompt_learner.meta_net.linear1.bias prompt_learner.meta_net.linear2.weight prompt_learner.meta_net.linear2.bias"; strings.Join(sn, " ") != w {
		t.Errorf("sequential names %v", sn)
	}
}

func TestCountParams(t *testing.T) {
	// 12D² + 13D per block: 7,087,872 at D = 768 (ViT-B layer).
	for _, d := range []int{8, 768} {
		if d == 768 && testing.Short() {
			continue
		}
		b := NewResidualAttentionBlock(Random(nil), "", d, d/4, false)
		total, trainable := CountParams(b)
		if want := 12*d*d + 13*d; total != want || trainable != want {
			t.Errorf("D=%d: %d/%d params, want %d", d, total, trainable, want)
		}
		if d == 768 && total != 7087872 {
			t.Errorf("ViT-B block: %d params", total)
		}
	}
	seq := (&Sequential{}).Add("linear1", NewLinear(Random(nil), "", 512, 32, true)).Add("relu", ReLU{}).Add("linear2", NewLinear(Random(nil), "", 32, 512, true))
	if n, _ := CountParams(seq); n != 33312 { // cocoop.md §1.3
		t.Errorf("meta-net: %d params, want 33312", n)
	}
	Freeze(seq)
	if n, tr := CountParams(seq); n != 33312 || tr != 0 {
		t.Errorf("frozen meta-net: %d/%d", n, tr)
	}
}

func TestLoadStateDict(t *testing.T) {
	r := newRand(3)
	b := NewResidualAttentionBlock(Random(nil), "", 8, 2, false)
	src := NewResidualAttentionBlock(Random(nil), "", 8, 2, false)
	randomize(r, src, 1)
	sd := map[string]*tensor.Tensor{}
	for k, v := range StateDict(src, "transformer.resblocks.0") {
		sd[k] = v.Clone()
	}
	keep := b.Ln1.Weight.Value
	res, err := LoadStateDict(b, "transformer.resblocks.0", sd, true)
	if err != nil || len(res.Missing)+len(res.Unexpected) != 0 {
		t.Fatalf("load: %v %+v", err, res)
	}
	if b.Ln1.Weight.Value != keep {
		t.Errorf("load replaced the parameter tensor instead of copying into it")
	}
	for _, p := range b.NamedParameters("transformer.resblocks.0") {
		if tensor.MaxAbsDiff(p.Var.Value, sd[p.Name]) != 0 {
			t.Errorf("%s not loaded", p.Name)
		}
	}

	// Wrong shape: error names the key and both shapes; nothing is copied.
	bad := map[string]*tensor.Tensor{}
	for k, v := range sd {
		bad[k] = v
	}
	key := "transformer.resblocks.0.attn.in_proj_weight"
	bad[key] = tensor.Zeros(24, 9)
	fresh := NewResidualAttentionBlock(Random(nil), "", 8, 2, false)
	_, err = LoadStateDict(fresh, "transformer.resblocks.0", bad, true)
	var sm *ShapeMismatchError
	if err == nil || !errors.As(err, &sm) || sm.Key != key {
		t.Fatalf("wrong shape: err = %v", err)
	}
	for _, s := range []string{key, "[24 8]", "[24 9]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	if fresh.Ln1.Weight.Value.At(0) != 1 {
		t.Errorf("a failed load modified parameters")
	}

	// A float16 (or prepacked) parameter takes no values in place: an error
	// naming it, and nothing is copied.
	half := NewResidualAttentionBlock(Random(nil), "", 8, 2, false)
	half.MLP.CFc.Weight.Value = half.MLP.CFc.Weight.Value.PrepackLinear()
	_, err = LoadStateDict(half, "transformer.resblocks.0", sd, true)
	if err == nil || !strings.Contains(err.Error(), "transformer.resblocks.0.mlp.c_fc.weight") || !strings.Contains(err.Error(), "float16") {
		t.Fatalf("load into a float16 parameter: err = %v", err)
	}
	if half.Ln1.Weight.Value.At(0) != 1 {
		t.Errorf("a failed load modified parameters")
	}

	// Missing and unexpected keys.
	delete(bad, key)
	bad["transformer.resblocks.0.attn.bias_k"] = tensor.Zeros(8)
	_, err = LoadStateDict(fresh, "transformer.resblocks.0", bad, true)
	if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "missing") ||
		!strings.Contains(err.Error(), "bias_k") {
		t.Errorf("strict missing/unexpected: err = %v", err)
	}
	res, err = LoadStateDict(fresh, "transformer.resblocks.0", bad, false)
	if err != nil || len(res.Missing) != 1 || res.Missing[0] != key || len(res.Unexpected) != 1 {
		t.Errorf("non-strict: %v %+v", err, res)
	}
}

// A frozen module passes gradients to its input but gets none itself; the
// input gradient is the same as through the unfrozen module.
func TestFrozenGradientFlow(t *testing.T) {
	r := newRand(5)
	b := NewResidualAttentionBlock(Random(tensor.NewRNG(4)), "", 16, 2, true)
	randomize(r, b, 0.3)
	xv := randT(r, 1, 2, 5, 16)
	rt := randT(r, 1, 2, 5, 16)

	x := autograd.Param(xv.Clone())
	fakeLoss(b.Forward(x), rt).Backward()
	want := x.Grad.Clone()
	for _, p := range b.NamedParameters("") {
		if p.Var.Grad == nil {
			t.Errorf("trainable %s got no grad", p.Name)
		}
		p.Var.ZeroGrad()
	}

	Freeze(b)
	x = autograd.Param(xv.Clone())
	fakeLoss(b.Forward(x), rt).Backward()
	if x.Grad == nil {
		t.Fatal("no gradient reached the input through the frozen block")
	}
	if d := tensor.MaxAbsDiff(x.Grad, want); d > 1e-6 {
		t.Errorf("input grad differs by %g when frozen", d)
	}
	for _, p := range b.NamedParameters("") {
		if p.Var.Grad != nil {
			t.Errorf("frozen %s got a grad", p.Name)
		}
	}

	// Finite differences on some input entries through the frozen block.
	x.ZeroGrad()
	opt := autograd.GradCheckOptions{Rtol: 2e-2, MaxPerInput: 24}
	if _, err := autograd.GradCheck(func() *autograd.Var { return fakeLoss(b.Forward(x), rt) }, []*autograd.Var{x}, opt); err != nil {
		t.Error(err)
	}
}
