package clip

import (
	"math"
	"runtime"
	"testing"

	"github.com/gocoop/gocoop/autograd"
)

// TestImageTowerSameBitsAnyCores: the image tower's forward on 8 images
// (tiny config: every elementwise op, layer norm, attention and sgemm
// splits across workers) and its backward into the pixels give the same
// bits at GOMAXPROCS 1, 2, 3, 5 and 7.
func TestImageTowerSameBitsAnyCores(t *testing.T) {
	m := tinyModel(t)
	r := m.ImageResolution
	images := HashTensor("test.determinism.images", 1, 0, 8, 3, r, r)
	w := HashTensor("test.determinism.loss_w", 1, 0, 8, m.EmbedDim)
	run := func() (feat, grad []float32) {
		x := autograd.Param(images.Clone())
		f := m.Visual.Forward(x, nil)
		f.BackwardWith(w)
		return f.Value.ToSlice(), x.Grad.ToSlice()
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	f1, g1 := run()
	for _, p := range []int{2, 3, 5, 7} {
		runtime.GOMAXPROCS(p)
		f, g := run()
		for _, c := range []struct {
			what      string
			got, want []float32
		}{{"features", f, f1}, {"pixel gradients", g, g1}} {
			n := 0
			for i := range c.got {
				if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
					n++
				}
			}
			if n > 0 {
				t.Errorf("GOMAXPROCS %d: %s differ from GOMAXPROCS 1 in %d of %d values", p, c.what, n, len(c.got))
			}
		}
	}
}
