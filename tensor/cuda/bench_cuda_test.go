//go:build cuda

package cuda

import (
	"fmt"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// BenchmarkSgemm times MatMul on the GPU (cuBLAS through the backend, with
// the synchronization that makes the time honest) beside the CPU kernels,
// on the products of ViT-B/16 and of the text tower over 1,000 prompts.
// bench/cuda/run.sh prints the GFLOP/s.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range []struct{ m, k, n int }{{197, 768, 768}, {197, 768, 3072}, {77000, 512, 512}} {
		x, w := rnd(1, s.m, s.k), rnd(2, s.k, s.n)
		flops := 2 * float64(s.m) * float64(s.k) * float64(s.n)
		name := fmt.Sprintf("%dx%dx%d", s.m, s.k, s.n)
		b.Run("cpu/"+name, func(b *testing.B) {
			for b.Loop() {
				tensor.MatMul(x, w)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("gpu/"+name, func(b *testing.B) {
			be := gpuB(b)
			xd, _ := x.To(be.Device())
			wd, _ := w.To(be.Device())
			tensor.MatMul(xd, wd) // warm-up
			be.Sync()
			for b.Loop() {
				tensor.MatMul(xd, wd)
			}
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(float64(be.MemStats().Peak)/(1<<20), "peak-MiB")
		})
	}
}

// BenchmarkAttention times the attention kernels against the CPU
// autograd-free path (scores, softmax, product) at the text tower's shape
// (1,000 prompts × 8 heads, 77 tokens, head width 64).
func BenchmarkAttention(b *testing.B) {
	const bh, t, hd = 8000, 77, 64
	q, k, v := rnd(1, bh, t, hd), rnd(2, bh, t, hd), rnd(3, bh, t, hd)
	b.Run("cpu", func(b *testing.B) {
		for b.Loop() {
			s := tensor.MulScalar(tensor.MatMulT(q, k, false, true), 0.125)
			tensor.MatMul(tensor.Softmax(s, -1), v)
		}
	})
	b.Run("gpu", func(b *testing.B) {
		be := gpuB(b)
		qd, _ := q.To(be.Device())
		kd, _ := k.To(be.Device())
		vd, _ := v.To(be.Device())
		for b.Loop() {
			if _, _, err := be.Attention(qd, kd, vd, true); err != nil {
				b.Fatal(err)
			}
		}
		if err := be.Sync(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(be.MemStats().Peak)/(1<<20), "peak-MiB")
	})
}

func gpuB(b *testing.B) *Backend {
	if err := Available(); err != nil {
		b.Skipf("no GPU: %v", err)
	}
	be, err := Get()
	if err != nil {
		b.Fatal(err)
	}
	return be
}
