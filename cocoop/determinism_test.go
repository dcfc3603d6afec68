package cocoop

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// TestStepSameBitsAnyCores: a whole CoCoOp training step (image features,
// meta-net, the text tower over 50 classes for 3 images, cross-entropy,
// backward into ctx and the meta-net) and an evaluation pass give the same
// bits at GOMAXPROCS 1, 2, 3, 5 and 7, on the shortcut and on the full
// 77-token route. The sizes are large enough that elementwise ops, layer
// norms, attention and sgemm all split across workers, with ragged chunks.
func TestStepSameBitsAnyCores(t *testing.T) {
	m := tinyCLIP(t)
	imgs, labels := testImages(3, len(food50), "cocoop.test.determinism")
	for _, full := range []bool{false, true} {
		setFullPrompts(t, m, full)
		step := func() map[string]*tensor.Tensor {
			c, err := NewCoCoOp(m, smallConfig(), food50)
			if err != nil {
				t.Fatal(err)
			}
			randomizeParams(c, "determinism")
			res, err := c.ForwardBackward(imgs, labels)
			if err != nil {
				t.Fatal(err)
			}
			out := gradsOf(c)
			out["logits"] = res.Logits
			out["loss"] = tensor.FromSlice([]float32{float32(res.Loss)}, 1)
			out["eval logits"] = c.Logits(imgs)
			return out
		}
		prev := runtime.GOMAXPROCS(1)
		want := step()
		for _, p := range []int{2, 3, 5, 7} {
			runtime.GOMAXPROCS(p)
			got := step()
			keys := make([]string, 0, len(want))
			for k := range want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if n := diffBits(want[k], got[k]); n > 0 {
					t.Errorf("full prompts %v, GOMAXPROCS %d: %s differs from GOMAXPROCS 1 in %d of %d values", full, p, k, n, want[k].Numel())
				}
			}
		}
		runtime.GOMAXPROCS(prev)
	}
}

// diffBits counts the elements of a and b whose float32 bits differ.
func diffBits(a, b *tensor.Tensor) int {
	x, y := a.ToSlice(), b.ToSlice()
	if len(x) != len(y) {
		panic(fmt.Sprintf("sizes %d and %d", len(x), len(y)))
	}
	n := 0
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			n++
		}
	}
	return n
}
