package nn

import (
	"testing"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// One ViT-B/16 residual block on one image (197 tokens, width 768), forward
// only: ≈2.9 GFLOP (docs/clip.md §5).
func BenchmarkResidualBlockViTB(b *testing.B) {
	blk := NewResidualAttentionBlock(Random(tensor.NewRNG(1)), "", 768, 12, false)
	x := autograd.Constant(tensor.NewRNG(2).Normal(0, 1, 1, 197, 768))
	b.ResetTimer()
	for b.Loop() {
		autograd.NoGrad(func() { blk.Forward(x) })
	}
	b.ReportMetric(2*1453954560*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// The causal text block (77 tokens, width 512) with backward to the input
// through frozen weights, as CoCoOp trains.
func BenchmarkTextBlockFrozenBackward(b *testing.B) {
	blk := NewResidualAttentionBlock(Random(tensor.NewRNG(1)), "", 512, 8, true)
	Freeze(blk)
	xv := tensor.NewRNG(2).Normal(0, 1, 4, 77, 512)
	b.ResetTimer()
	for b.Loop() {
		x := autograd.Param(xv)
		autograd.Sum(blk.Forward(x), nil, false).Backward()
	}
}
