package autograd

import (
	"fmt"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// block is a CLIP text-transformer residual block built from autograd ops,
// with frozen weights: the shape of CoCoOp's backward, where gradients flow
// through frozen CLIP layers to the prompt vectors.
type block struct {
	ln1w, ln1b, inW, inB, outW, outB, ln2w, ln2b, fcW, fcB, projW, projB *Var
	heads                                                                int
}

func newBlock(rng *tensor.RNG, d, heads int) *block {
	c := func(s float32, shape ...int) *Var { return Constant(rng.Normal(0, s, shape...)) }
	return &block{
		ln1w: Constant(tensor.Ones(d)), ln1b: c(0.02, d),
		inW: c(0.02, 3*d, d), inB: c(0.02, 3*d),
		outW: c(0.02, d, d), outB: c(0.02, d),
		ln2w: Constant(tensor.Ones(d)), ln2b: c(0.02, d),
		fcW: c(0.02, 4*d, d), fcB: c(0.02, 4*d),
		projW: c(0.02, d, 4*d), projB: c(0.02, d),
		heads: heads,
	}
}

func (b *block) forward(x *Var) *Var {
	s := x.Shape()
	n, l, d := s[0], s[1], s[2]
	hd := d / b.heads
	split := func(t *Var) *Var { return Permute(Reshape(t, n, l, b.heads, hd), 0, 2, 1, 3) } // [N, L, D] -> [N, H, L, hd]
	qkv := Linear(LayerNorm(x, b.ln1w, b.ln1b, 1e-5), b.inW, b.inB)                          // [N, L, 3D]
	o := ScaledDotProductAttention(split(Slice(qkv, 2, 0, d)), split(Slice(qkv, 2, d, 2*d)), split(Slice(qkv, 2, 2*d, 3*d)), true, nil)
	o = Reshape(Permute(o, 0, 2, 1, 3), n, l, d) // [N, H, L, hd] -> [N, L, D]
	x = Add(x, Linear(o, b.outW, b.outB))
	h := QuickGELU(Linear(LayerNorm(x, b.ln2w, b.ln2b, 1e-5), b.fcW, b.fcB))
	return Add(x, Linear(h, b.projW, b.projB))
}

// BenchmarkBlockForwardBackward: one frozen CLIP-text block (D 512, 8 heads,
// L 77) on 8 prompts that require grad.
func BenchmarkBlockForwardBackward(bm *testing.B) {
	rng := tensor.NewRNG(1)
	b := newBlock(rng, 512, 8)
	x := Param(rng.Normal(0, 1, 8, 77, 512))
	g := rng.Normal(0, 1, 8, 77, 512)
	for bm.Loop() {
		x.ZeroGrad()
		b.forward(x).BackwardWith(g)
	}
}

// BenchmarkBlockForward is the same block without recording (NoGrad).
func BenchmarkBlockForward(bm *testing.B) {
	rng := tensor.NewRNG(1)
	b := newBlock(rng, 512, 8)
	x := Param(rng.Normal(0, 1, 8, 77, 512))
	for bm.Loop() {
		NoGrad(func() { b.forward(x) })
	}
}

// BenchmarkQuickGELU: forward and backward of the image tower's MLP
// activation on 4 images ([4, 197, 3072]).
func BenchmarkQuickGELU(bm *testing.B) {
	rng := tensor.NewRNG(1)
	x := Param(rng.Normal(0, 1, 4, 197, 3072))
	g := rng.Normal(0, 1, 4, 197, 3072)
	for bm.Loop() {
		x.ZeroGrad()
		QuickGELU(x).BackwardWith(g)
	}
}

// BenchmarkLayerNorm: forward and backward (dx, dw and db) of a layer norm
// on 4 images of the image tower ([4, 197, 768]).
func BenchmarkLayerNorm(bm *testing.B) {
	rng := tensor.NewRNG(1)
	x := Param(rng.Normal(0, 1, 4, 197, 768))
	w, b := Param(tensor.Ones(768)), Param(rng.Normal(0, 0.02, 768))
	g := rng.Normal(0, 1, 4, 197, 768)
	for bm.Loop() {
		x.ZeroGrad()
		w.ZeroGrad()
		b.ZeroGrad()
		LayerNorm(x, w, b, 1e-5).BackwardWith(g)
	}
}

// cocoopPacking lays out CoCoOp's text rows as clip's packing does: per
// image a prefix sequence of 5 rows (SOS and 4 context vectors), then 50
// class prompts that list the prefix and own 2–6 suffix rows each (up to
// EOT); rows are numbered prefixes first, then the suffixes in prompt order.
func cocoopPacking(images int) (seqs []PackedSeq, R int) {
	const p, classes = 5, 50
	for g := range images {
		var pre []int
		for j := range p {
			pre = append(pre, g*p+j)
		}
		seqs = append(seqs, PackedSeq{Rows: pre})
	}
	R = images * p
	for g := range images {
		for c := range classes {
			rows := append([]int(nil), seqs[g].Rows...)
			for range 2 + c%5 {
				rows = append(rows, R)
				R++
			}
			seqs = append(seqs, PackedSeq{Rows: rows, Own: p})
		}
	}
	return seqs, R
}

// BenchmarkPackedAttention: the text tower's attention in one layer of a
// CoCoOp step (cocoopPacking, 8 heads × 64) at batch 1 and 8, forward
// alone and forward with backward (q, k, v all require grad).
func BenchmarkPackedAttention(bm *testing.B) {
	const H, d = 8, 64
	for _, images := range []int{1, 8} {
		seqs, R := cocoopPacking(images)
		rng := tensor.NewRNG(1)
		q, k, v := Param(rng.Normal(0, 1, R, H, d)), Param(rng.Normal(0, 1, R, H, d)), Param(rng.Normal(0, 1, R, H, d))
		g := rng.Normal(0, 1, R, H, d)
		bm.Run(fmt.Sprintf("batch%d/forward", images), func(bm *testing.B) {
			for bm.Loop() {
				NoGrad(func() { PackedAttention(q, k, v, seqs, nil) })
			}
		})
		bm.Run(fmt.Sprintf("batch%d/train", images), func(bm *testing.B) {
			for bm.Loop() {
				q.ZeroGrad()
				k.ZeroGrad()
				v.ZeroGrad()
				PackedAttention(q, k, v, seqs, nil).BackwardWith(g)
			}
		})
	}
}
