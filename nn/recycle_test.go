package nn

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// TestFrozenForwardRecycles: a frozen block's forward recycles its
// activations (block after block reuses them: it allocates a fraction of
// what the same forward allocates when its input requires grad, where the
// graph keeps them), and leaves alone what a record keeps (in test binaries
// a recycled buffer is poisoned with NaN, so a recorded branch recycled by
// mistake would not match its recomputation).
func TestFrozenForwardRecycles(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	r := newRand(7)
	b := NewResidualAttentionBlock(Random(tensor.NewRNG(7)), "", 64, 4, false)
	randomize(r, b, 0.3)
	Freeze(b)
	x := randT(r, 1, 2, 40, 64)

	allocated := func(requiresGrad bool) uint64 {
		best := ^uint64(0)
		for range 5 {
			in := autograd.NewVar(x, requiresGrad)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 4 {
				in = b.Forward(in)
			}
			runtime.ReadMemStats(&after)
			best = min(best, after.TotalAlloc-before.TotalAlloc)
		}
		return best
	}
	frozen, graph := allocated(false), allocated(true)
	t.Logf("4 blocks: %d bytes allocated frozen, %d with a graph", frozen, graph)
	if frozen*3 > graph {
		t.Errorf("frozen forward allocated %d bytes, more than a third of the %d with a graph: activations not recycled", frozen, graph)
	}

	b.RecordBranches = true
	defer func() { b.RecordBranches, b.LastAttnBranch, b.LastMLPBranch = false, nil, nil }()
	in := autograd.Constant(x)
	out := b.Forward(in)
	attn := b.Attn.Forward(b.Ln1.Forward(in), false)
	h := autograd.Add(in, attn)
	mlp := b.MLP.Forward(b.Ln2.Forward(h))
	for _, c := range []struct {
		name      string
		got, want *tensor.Tensor
	}{
		{"attention branch", b.LastAttnBranch.Value, attn.Value},
		{"MLP branch", b.LastMLPBranch.Value, mlp.Value},
		{"output", out.Value, autograd.Add(h, mlp).Value},
	} {
		if d := tensor.MaxAbsDiff(c.got, c.want); !(d == 0) {
			t.Errorf("recorded %s differs from its recomputation by %g", c.name, d)
		}
	}
}

// TestTrainingForwardSavesActivations: with a graph, a block recycles at
// once the activations no backward reads and saves the others until the
// Backward (autograd's SaveForBackward), for frozen weights (CoCoOp's text
// tower) and trainable ones (pretraining), causal (the text tower's) or
// not, whole or ForwardFirst: the gradients are bit for bit those of the
// same block with its branches recorded (the block and its attention then
// recycle and save nothing; its MLP still does), a second Backward through
// it panics, and the forward of a
// step after the first allocates a fraction of what the recording block's
// does: it reuses the activations the last Backward freed.
func TestTrainingForwardSavesActivations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	// No collection mid-test: one would drop buffers from the free lists
	// (recycle.go's aging) and make the allocation counts vary.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, c := range []struct {
		name           string
		frozen, causal bool
		first          int
	}{
		{"frozen", true, false, 0}, {"frozen causal", true, true, 0},
		{"trainable", false, false, 0}, {"frozen ForwardFirst", true, false, 1},
	} {
		r := newRand(7)
		b := NewResidualAttentionBlock(Random(tensor.NewRNG(7)), "", 64, 4, c.causal)
		randomize(r, b, 0.3)
		if c.frozen {
			Freeze(b)
		}
		x := randT(r, 1, 2, 40, 64)
		step := func(record bool) (grads []*tensor.Tensor, allocated uint64, out *autograd.Var) {
			b.RecordBranches = record
			defer func() { b.RecordBranches, b.LastAttnBranch, b.LastMLPBranch = false, nil, nil }()
			allocated = ^uint64(0)
			for range 4 {
				in := autograd.Param(x)
				for _, p := range b.NamedParameters("") {
					p.Var.ZeroGrad()
				}
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if c.first > 0 {
					out = b.ForwardFirst(in, c.first)
				} else {
					out = b.Forward(in)
				}
				runtime.ReadMemStats(&after)
				allocated = min(allocated, after.TotalAlloc-before.TotalAlloc)
				autograd.Sum(out, nil, false).Backward()
				grads = []*tensor.Tensor{in.Grad}
				for _, p := range b.NamedParameters("") {
					if p.Var.Grad != nil {
						grads = append(grads, p.Var.Grad)
					}
				}
			}
			return grads, allocated, out
		}
		want, recorded, _ := step(true)
		got, saved, out := step(false)
		for i := range want {
			if d := tensor.MaxAbsDiff(got[i], want[i]); !(d == 0) {
				t.Errorf("%s: gradient %d differs by %g from the recording block's", c.name, i, d)
			}
		}
		if len(got) != len(want) || c.frozen != (len(got) == 1) {
			t.Errorf("%s: %d gradients, recording block %d", c.name, len(got), len(want))
		}
		t.Logf("%s: a forward allocates %d bytes, %d recording", c.name, saved, recorded)
		if c.first == 0 && saved*2 > recorded { // ForwardFirst records through Forward: no like baseline
			t.Errorf("%s: a forward allocates %d bytes, more than half the recording block's %d: activations not reused", c.name, saved, recorded)
		}
		if err := tensor.Try(func() { autograd.Sum(out, nil, false).Backward() }); err == nil {
			t.Errorf("%s: a second Backward through freed activations did not panic", c.name)
		}
	}
}

// TestHookRemovingItself: a head hook that keeps the heads it sees and
// removes itself still holds them (recycle's hold is read before the hooks
// run), in a graph or not.
func TestHookRemovingItself(t *testing.T) {
	for _, graph := range []bool{false, true} {
		r := newRand(3)
		b := NewResidualAttentionBlock(Random(tensor.NewRNG(7)), "", 16, 2, false)
		randomize(r, b, 0.3)
		Freeze(b)
		x := autograd.NewVar(randT(r, 1, 2, 7, 16), graph)
		var seen *autograd.Var
		var h *HookHandle
		h = b.Attn.RegisterHeadHook(func(_, o *autograd.Var) *autograd.Var { seen = o; h.Remove(); return nil })
		b.Forward(x)
		if err := tensor.Try(func() { _ = seen.Value.Data() }); err != nil {
			t.Errorf("graph=%v: heads kept by a hook were recycled: %v", graph, err)
		}
	}
}
