package asm

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkRows times the row helpers on a 768-wide row (CLIP width) per
// tier, to check that SIMD pays off. Sub-benchmarks are named tier/Op
// (BenchmarkRows/avx2/Softmax); MB/s counts the row's 3 KiB once.
func BenchmarkRows(b *testing.B) {
	old := CurrentTier()
	defer SetTier(old)
	const n = 768
	r := rand.New(rand.NewPCG(1, 1))
	x, y, g, bb, dst := randSlice(r, n), randSlice(r, n), randSlice(r, n), randSlice(r, n), make([]float32, n)
	ops := []struct {
		name string
		f    func()
	}{
		{"Dot", func() { Dot(x, y) }},
		{"Axpy", func() { Axpy(1e-3, x, y) }},
		{"Add", func() { Add(dst, x, y) }},
		{"Softmax", func() { copy(dst, x); SoftmaxRow(dst) }},
		{"LayerNorm", func() { LayerNormRow(dst, x, g, bb, 1e-5) }},
	}
	for _, tier := range SupportedTiers() {
		for _, op := range ops {
			b.Run(tier.String()+"/"+op.name, func(b *testing.B) {
				SetTier(tier)
				b.SetBytes(4 * n)
				for i := 0; i < b.N; i++ {
					op.f()
				}
			})
		}
	}
}
