//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/internal/devicecheck"
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

// BenchmarkCoCoOp times CoCoOp on ViT-B/16 hash weights (clip.NewHashCLIP),
// as the targets state them: the training step (ForwardBackward
// and the SGD step) and the evaluation of a batch (Logits), for 50 and
// 1,000 classes at batch 1 and 8, on the GPU ("gpu/...") and on the CPU
// ("cpu/...": run it with -test.cpu 2 for the two-core figures; the
// 1,000-class batch-8 training step is left out there, minutes long). GPU
// rows report the caching allocator's peak over the step (peak-MiB,
// garbage not yet collected included) and the driver's used memory after
// it (device-MiB). bench/cuda/run.sh prints them side by side.
func BenchmarkCoCoOp(b *testing.B) {
	for _, dev := range []string{"cpu", "gpu"} {
		b.Run(dev, func(b *testing.B) {
			var be *Backend
			if dev == "gpu" {
				be = gpuB(b)
			}
			m, err := clip.NewHashCLIP(clip.ViTB16)
			if err != nil {
				b.Fatal(err)
			}
			if be != nil {
				if _, err := m.To(be.Device()); err != nil {
					b.Fatal(err)
				}
			}
			images := devicecheck.Images(clip.ViTB16, 8)
			for _, n := range []int{50, 1000} {
				names := food50
				if n == 1000 {
					names = names1000()
				}
				cfg := cocoop.DefaultCoCoOpConfig()
				for _, batch := range []int{1, 8} {
					c, err := cocoop.NewCoCoOp(m, cfg, names)
					if err != nil {
						b.Fatal(err)
					}
					tr, err := cocoop.NewTrainer(c, cfg)
					if err != nil {
						b.Fatal(err)
					}
					x := images.Slice(0, 0, batch).Clone()
					labels := make([]int, batch)
					for i := range labels {
						labels[i] = (7*i + 3) % n
					}
					step := func() {
						tr.Opt.ZeroGrad()
						if _, err := c.ForwardBackward(x, labels); err != nil {
							b.Fatal(err)
						}
						tr.Opt.Step()
					}
					eval := func() { c.Logits(x) }
					for _, w := range []struct {
						name string
						f    func()
					}{{"train", step}, {"eval", eval}} {
						if dev == "cpu" && w.name == "train" && n == 1000 && batch == 8 {
							continue
						}
						b.Run(fmt.Sprintf("%s-%dcls-batch%d", w.name, n, batch), func(b *testing.B) {
							if be != nil {
								w.f() // warm-up: first launches, cuBLAS workspaces
								if err := be.Sync(); err != nil {
									b.Fatal(err)
								}
								runtime.GC()
								be.ResetPeak()
							}
							for b.Loop() {
								w.f()
							}
							if be != nil {
								if err := be.Sync(); err != nil {
									b.Fatal(err)
								}
								b.ReportMetric(float64(be.MemStats().Peak)/(1<<20), "peak-MiB")
								if free, total, err := be.DeviceMemory(); err == nil {
									b.ReportMetric(float64(total-free)/(1<<20), "device-MiB")
								}
							}
							b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
						})
					}
				}
			}
		})
	}
}
