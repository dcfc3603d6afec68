package tensor

import "testing"

func BenchmarkAddSame(b *testing.B) {
	x, y := randT(1, 512, 768), randT(2, 512, 768)
	b.SetBytes(3 * 4 * 512 * 768)
	for b.Loop() {
		Add(x, y)
	}
}

func BenchmarkAddRow(b *testing.B) {
	x, y := randT(1, 512, 768), randT(2, 768)
	b.SetBytes(2 * 4 * 512 * 768)
	for b.Loop() {
		Add(x, y)
	}
}

func BenchmarkAddTransposed(b *testing.B) {
	x, y := randT(1, 512, 768), randT(2, 768, 512).T()
	b.SetBytes(3 * 4 * 512 * 768)
	for b.Loop() {
		Add(x, y)
	}
}

func BenchmarkSumAxis0(b *testing.B) {
	x := randT(1, 512, 768)
	b.SetBytes(4 * 512 * 768)
	for b.Loop() {
		Sum(x, []int{0}, false)
	}
}

func BenchmarkSumLastAxis(b *testing.B) {
	x := randT(1, 512, 768)
	b.SetBytes(4 * 512 * 768)
	for b.Loop() {
		Sum(x, []int{-1}, false)
	}
}

func BenchmarkSoftmaxLast(b *testing.B) {
	x := randT(1, 8, 77, 77)
	b.SetBytes(4 * 8 * 77 * 77)
	for b.Loop() {
		Softmax(x, -1)
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	x, w, bias := randT(1, 512, 768), randT(2, 768), randT(3, 768)
	b.SetBytes(4 * 512 * 768)
	for b.Loop() {
		LayerNorm(x, w, bias, 1e-5)
	}
}

func BenchmarkLinear(b *testing.B) {
	x, w := randT(1, 8, 77, 512), randT(2, 2048, 512)
	b.ReportMetric(0, "ns/op")
	for b.Loop() {
		MatMulT(x, w, false, true)
	}
	b.ReportMetric(2*8*77*512*2048*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkAttentionScores(b *testing.B) {
	q := randT(1, 8, 77, 8, 64).Permute(0, 2, 1, 3) // [B, H, L, d] view
	k := randT(2, 8, 77, 8, 64).Permute(0, 2, 1, 3)
	for b.Loop() {
		MatMulT(q, k, false, true)
	}
	b.ReportMetric(2*8*8*77*77*64*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
