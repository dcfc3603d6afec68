package nn

import (
	"strings"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

func testBlock(seed uint64) *ResidualAttentionBlock {
	b := NewResidualAttentionBlock(Random(tensor.NewRNG(seed)), "", 16, 2, true)
	randomize(newRand(seed), b, 0.3)
	return b
}

// Zeroing head h through a head hook is the same as zeroing out_proj's
// input columns of that head; removing the hook restores the output.
func TestHeadHookAblates(t *testing.T) {
	b := testBlock(1)
	x := autograd.Constant(randT(newRand(2), 1, 2, 5, 16))
	before := b.Forward(x).Value
	const h, d = 1, 8
	handle := b.Attn.RegisterHeadHook(func(_, heads *autograd.Var) *autograd.Var {
		mask := tensor.Ones(heads.Shape()...)
		mask.Slice(1, h, h+1).Fill(0) // [N, H, L, d]: head h
		return autograd.Mul(heads, autograd.Constant(mask))
	})
	ablated := b.Forward(x).Value
	handle.Remove()
	handle.Remove() // twice is harmless
	if d := tensor.MaxAbsDiff(b.Forward(x).Value, before); d != 0 {
		t.Errorf("after Remove the output differs by %g", d)
	}
	w := b.Attn.OutProj.Weight.Value
	saved := w.Clone()
	w.Slice(1, h*d, (h+1)*d).Fill(0) // out_proj.weight [D, D]: the columns head h feeds
	want := b.Forward(x).Value
	w.CopyFrom(saved)
	if diff := tensor.MaxAbsDiff(ablated, want); diff > 1e-6 {
		t.Errorf("head ablation differs from zeroed out_proj columns by %g", diff)
	}
	if tensor.MaxAbsDiff(ablated, before) < 1e-3 {
		t.Error("ablating a head changed nothing")
	}
}

// Activation patching: the attention output of one run replaces another's,
// and a block hook sees the block's input and output.
func TestForwardHooksPatch(t *testing.T) {
	b := testBlock(3)
	r := newRand(4)
	x1, x2 := autograd.Constant(randT(r, 1, 1, 5, 16)), autograd.Param(randT(r, 1, 1, 5, 16))
	var a1 *autograd.Var
	rec := b.Attn.RegisterForwardHook(func(_, out *autograd.Var) *autograd.Var { a1 = out; return nil })
	b.Forward(x1)
	rec.Remove()
	b.Attn.RegisterForwardHook(func(_, _ *autograd.Var) *autograd.Var { return a1 })
	var seenIn, seenOut *autograd.Var
	b.RegisterForwardHook(func(in, out *autograd.Var) *autograd.Var { seenIn, seenOut = in, out; return nil })
	got := b.Forward(x2)
	h := autograd.Add(x2, a1)
	want := autograd.Add(h, b.MLP.Forward(b.Ln2.Forward(h)))
	if d := tensor.MaxAbsDiff(got.Value, want.Value); d != 0 {
		t.Errorf("patched block differs by %g", d)
	}
	if seenIn != x2 || seenOut != got {
		t.Error("block hook did not see the block's input and output")
	}
	// A hook's replacement must keep the shape.
	b.RegisterForwardHook(func(_, out *autograd.Var) *autograd.Var { return autograd.Slice(out, 1, 0, 2) })
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "forward hook of block returned shape [1 2 16]") {
			t.Errorf("bad replacement: %v", r)
		}
	}()
	b.Forward(x2)
}

// The recorded attention probabilities, head outputs and residual branches
// are nodes of the graph: their gradients are those the chain rule gives.
func TestRecordedNodesAreDifferentiable(t *testing.T) {
	b := testBlock(5)
	b.Attn.RecordAttn, b.RecordBranches = true, true
	r := newRand(6)
	xv, rt := randT(r, 1, 2, 4, 16), randT(r, 1, 2, 4, 16)
	x := autograd.Param(xv)
	out := b.Forward(x)
	p, heads := b.Attn.LastAttn.RetainGrad(), b.Attn.LastHeads.RetainGrad()
	a, m := b.LastAttnBranch.RetainGrad(), b.LastMLPBranch.RetainGrad()
	fakeLoss(out, rt).Backward()

	// out = (x + a) + m.
	if d := tensor.MaxAbsDiff(out.Value, tensor.Add(tensor.Add(xv, a.Value), m.Value)); d != 0 {
		t.Errorf("x + branches differs from the output by %g", d)
	}
	if d := tensor.MaxAbsDiff(m.Grad, rt); d != 0 { // d loss/d m = d loss/d out = rt
		t.Errorf("MLP branch gradient differs from the output's by %g", d)
	}
	// heads = P·v, so d loss/d P = d loss/d heads · vᵀ, with v the value
	// projection of ln_1(x) split into heads.
	var v *tensor.Tensor
	autograd.NoGrad(func() {
		_, _, _, vv := b.Attn.inProj(b.Ln1.Forward(autograd.Constant(xv)))
		v = b.Attn.splitHeads(vv).Value // [N, H, L, d]
	})
	if d := tensor.MaxAbsDiff(p.Grad, tensor.MatMulT(heads.Grad, v, false, true)); d > 1e-5 {
		t.Errorf("d loss/d P differs from d loss/d heads · vᵀ by %g", d)
	}
	if !tensor.SameShape(p.Shape(), []int{2, 2, 4, 4}) || !tensor.SameShape(heads.Shape(), []int{2, 2, 4, 8}) {
		t.Errorf("shapes: probs %v, heads %v", p.Shape(), heads.Shape())
	}
}

// Hooks run on the packed forward too, on its rows.
func TestHooksOnPackedForward(t *testing.T) {
	b := testBlock(7)
	x := autograd.Constant(randT(newRand(8), 1, 6, 16))
	seqs := []autograd.PackedSeq{{Rows: []int{0, 1, 2}}, {Rows: []int{3, 4, 5}}}
	b.Attn.RecordAttn = true
	b.Attn.RegisterHeadHook(func(_, heads *autograd.Var) *autograd.Var {
		return autograd.MulScalar(heads, 0) // every head ablated
	})
	out := b.ForwardPacked(x, seqs)
	if !tensor.SameShape(b.Attn.LastHeads.Shape(), []int{6, 2, 8}) || b.Attn.LastAttn != nil {
		t.Errorf("packed record: heads %v", b.Attn.LastHeads.Shape())
	}
	// With every head zeroed the attention adds out_proj's bias only.
	h := autograd.Add(x, b.Attn.OutProj.Bias)
	want := autograd.Add(h, b.MLP.Forward(b.Ln2.Forward(h)))
	if d := tensor.MaxAbsDiff(out.Value, want.Value); d > 1e-6 {
		t.Errorf("packed ablation differs by %g", d)
	}
}
