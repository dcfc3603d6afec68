package asm

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchShape is one product of the CLIP workload (spec/kernels.md §1).
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
// single- and dual-core figures.
func BenchmarkSgemm(b *testing.B) {
	old := CurrentTier()
	defer SetTier(old)
	for _, tier := range SupportedTiers() {
		for _, s := range benchShapes {
			b.Run(tier.String()+"/"+s.String(), func(b *testing.B) {
				SetTier(tier)
				benchGemm(b, s, func(a, bm, c []float32, ldb int) {
					Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, bm, ldb, 0, c, s.n)
				})
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

// BenchmarkGemmConfig is a tuning aid: it sweeps blocking constants of the
// current tier on a few shapes (go test -run X -bench GemmConfig).
func BenchmarkGemmConfig(b *testing.B) {
	base := *current.Load().gemm
	for _, v := range gemmVariants(base) {
		for _, s := range gemmConfigShapes {
			cfg := v.cfg
			b.Run(v.name+"/"+s.String(), func(b *testing.B) {
				procs := runtime.GOMAXPROCS(0)
				benchGemm(b, s, func(a, bm, c []float32, ldb int) {
					gemm(&cfg, false, s.transB, s.m, s.n, s.k, 1, a, s.k, bm, ldb, 0, c, s.n, procs)
				})
			})
		}
	}
}

var gemmConfigShapes = []benchShape{{197, 768, 2304, false}, {197, 768, 768, false}, {197, 3072, 768, false}, {1024, 1024, 1024, false}, {2048, 2048, 2048, false}, {197, 64, 197, true}, {197, 197, 64, false}, {77, 64, 77, true}}

type gemmVariant struct {
	name string
	cfg  gemmConfig
}
