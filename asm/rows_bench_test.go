package asm

import (
	"fmt"
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

// BenchmarkQuickGELU times QuickGELU and QuickGELUGrad per tier on a row of
// CLIP's MLP (3072, in L1) and on one ViT-B/16 image's MLP activation
// (197·3072, 2.4 MB), one core; MB/s counts x once. (The unfused Go loops
// around ExpInPlace that autograd ran before measured 5–8× slower on
// AVX-512: 197·3072 forward 1.15 ms against 0.18 ms.)
func BenchmarkQuickGELU(b *testing.B) {
	old := CurrentTier()
	defer SetTier(old)
	for _, n := range []int{3072, 197 * 3072} {
		r := rand.New(rand.NewPCG(1, 2))
		x, dy, y := randSlice(r, n), randSlice(r, n), make([]float32, n)
		for i := range x {
			x[i] *= 4
		}
		ops := []struct {
			name string
			f    func()
		}{
			{"fwd", func() { QuickGELU(y, x) }},
			{"bwd", func() { QuickGELUGrad(y, dy, x) }},
		}
		for _, tier := range SupportedTiers() {
			for _, op := range ops {
				b.Run(fmt.Sprintf("%v/%s/%d", tier, op.name, n), func(b *testing.B) {
					SetTier(tier)
					b.SetBytes(4 * int64(n))
					for b.Loop() {
						op.f()
					}
				})
			}
		}
	}
}
