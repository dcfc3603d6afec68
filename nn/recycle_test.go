package nn

import (
	"runtime"
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
