//go:build cuda

package cuda_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/tensor/cuda"
)

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
			var be *cuda.Backend
			if dev == "gpu" {
				be = gpu(b)
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
			images := cliptest.Images(clip.ViTB16, 8)
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
