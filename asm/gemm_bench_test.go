package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShape is one product of the CLIP workload: ViT-B/16's image tower
// (197 tokens, width 768, MLP 3072, attention heads of 64), the text
// tower's 77-token attention, and square products for reference.
type benchShape struct {
	m, k, n int
	transB  bool
}

func (s benchShape) String() string {
	t := ""
	if s.transB {
		t = "T"
	}
	return fmt.Sprintf("%dx%dx%d%s", s.m, s.k, s.n, t)
}

var benchShapes = []benchShape{
	{197, 768, 2304, false}, {197, 768, 768, false}, {197, 768, 3072, false}, {197, 3072, 768, false},
	{1024, 512, 1536, false}, {1024, 1024, 1024, false}, {2048, 2048, 2048, false},
	{197, 64, 197, true}, {197, 197, 64, false}, {77, 64, 77, true},
	// x·Wᵀ with W stored [out,in], as CLIP's linear layers call it.
	{197, 768, 2304, true}, {197, 3072, 768, true},
}

// BenchmarkSgemm reports GFLOP/s per tier and shape; run with -cpu 1,2 for
// single- and dual-core figures. Sub-benchmarks are named tier/MxKxN[T]:
// C[M×N] = A[M×K]·B[K×N], with a T suffix when B is stored transposed
// ([N×K], read as Bᵀ: CLIP's x·Wᵀ with W [out, in], and QKᵀ). For example
// BenchmarkSgemm/avx512/197x768x2304T is the image tower's QKV projection
// on the AVX-512 tier; -bench 'Sgemm/avx2/' selects one tier.
func BenchmarkSgemm(b *testing.B) {
	benchTiersShapes(b, func(b *testing.B, s benchShape) {
		benchGemm(b, s, func(a, bm, c []float32, ldb int) {
			Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, bm, ldb, 0, c, s.n)
		})
	})
}

// benchTiersShapes runs f as the sub-benchmark tier/shape for every
// supported tier and benchShapes entry, with that tier set.
func benchTiersShapes(b *testing.B, f func(b *testing.B, s benchShape)) {
	old := CurrentTier()
	defer SetTier(old)
	for _, tier := range SupportedTiers() {
		for _, s := range benchShapes {
			b.Run(tier.String()+"/"+s.String(), func(b *testing.B) {
				SetTier(tier)
				f(b, s)
			})
		}
	}
}

func benchGemm(b *testing.B, s benchShape, f func(a, bm, c []float32, ldb int)) {
	r := rand.New(rand.NewPCG(1, 1))
	a := randSlice(r, s.m*s.k)
	bm := randSlice(r, s.k*s.n)
	c := make([]float32, s.m*s.n)
	ldb := s.n
	if s.transB {
		ldb = s.k
	}
	f(a, bm, c, ldb)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f(a, bm, c, ldb)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)/sec/1e9, "GFLOP/s")
}

// BenchmarkSgemmStridedHeads times 12 attention heads of QKᵀ (197×64×197)
// spread over the cores by head.
func BenchmarkSgemmStridedHeads(b *testing.B) {
	const heads, m, k = 12, 197, 64
	r := rand.New(rand.NewPCG(1, 1))
	q := randSlice(r, heads*m*k)
	kk := randSlice(r, heads*m*k)
	c := make([]float32, heads*m*m)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		SgemmStrided(heads, false, true, m, m, k, 1, q, k, m*k, kk, k, m*k, 0, c, m, m*m)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(2*heads*m*m*k/sec/1e9, "GFLOP/s")
}

// BenchmarkSgemmHalfB is BenchmarkSgemm with B stored as binary16 (a
// float16 weight): the same shapes, B widened as it is packed.
func BenchmarkSgemmHalfB(b *testing.B) {
	benchTiersShapes(b, func(b *testing.B, s benchShape) {
		var bh []uint16
		benchGemm(b, s, func(a, bm, c []float32, ldb int) {
			if bh == nil {
				bh = make([]uint16, len(bm))
				NarrowHalf(bh, bm)
			}
			SgemmHalfB(false, s.transB, s.m, s.n, s.k, 1, a, s.k, bh, ldb, 0, c, s.n)
		})
	})
}

// BenchmarkSgemmHalfPanels is BenchmarkSgemmHalfB with B prepacked once
// (PackHalfPanels, outside the timing): the tier's half kernels read the
// panels in place where it has them.
func BenchmarkSgemmHalfPanels(b *testing.B) {
	benchTiersShapes(b, func(b *testing.B, s benchShape) {
		var hp *HalfPanels
		benchGemm(b, s, func(a, bm, c []float32, ldb int) {
			if hp == nil {
				bh := make([]uint16, len(bm))
				NarrowHalf(bh, bm)
				hp = PackHalfPanels(s.transB, s.k, s.n, bh, ldb)
			}
			SgemmHalfPanels(false, s.m, 1, a, s.k, hp, 0, c, s.n)
		})
	})
}
