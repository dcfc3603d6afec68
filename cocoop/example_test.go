package cocoop_test

import (
	"context"
	"fmt"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/tensor"
)

// exampleCLIP is a small CLIP with deterministic hash weights (no download).
func exampleCLIP() *clip.CLIP {
	m, err := clip.NewHashCLIP(clip.Config{
		EmbedDim: 32, ImageResolution: 32, VisionLayers: 2, VisionWidth: 64, VisionHeads: 1,
		VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
		TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2,
	})
	if err != nil {
		panic(err)
	}
	return m
}

// ∂loss/∂π(x), the gradient the meta-net receives per image, and gradient
// × attention of each class's EOT token, from the trace of one forward
// pass over a batch.
func ExampleCoCoOp_ForwardTrace() {
	m := exampleCLIP()
	c, err := cocoop.NewCoCoOp(m, cocoop.DefaultCoCoOpConfig(), []string{"cat", "dog", "sea_lake"})
	if err != nil {
		panic(err)
	}
	images := clip.HashTensor("example.images", 1, 0, 2, 3, 32, 32) // [B, 3, R, R]
	m.Text.FullPrompts = true                                       // every prompt at its own positions (docs/cocoop.md §7)
	tr := c.ForwardTrace(c.ImageFeatures(images), true)
	pi := tr.Pi.RetainGrad()
	last := tr.Text.Probs[len(tr.Text.Probs)-1].RetainGrad() // [B·n_cls, H, L, L]
	loss := autograd.CrossEntropy(tr.Logits, []int{0, 2})
	loss.Backward()

	fmt.Println("π(x):", pi.Shape(), "ctx + π(x):", tr.Ctx.Shape(), "prompts:", tr.Prompts.Shape())
	fmt.Println("∂loss/∂π(x):", pi.Grad.Shape())
	fmt.Println("class prompt ids of \"sea lake\":", tr.IDs[2][:tr.EOT[2]+1])
	// Gradient × attention of image 1's true class at its EOT query, last layer.
	n, e := 1*3+2, tr.EOT[2]
	relevance := tensor.Mul(last.Grad.Index(0, n), last.Value.Index(0, n)).Slice(1, e, e+1) // [H, 1, L]
	fmt.Println("gradient × attention at the EOT token:", relevance.Shape())
	// Output:
	// π(x): [2 64] ctx + π(x): [2 4 64] prompts: [2 3 9 64]
	// ∂loss/∂π(x): [2 64]
	// class prompt ids of "sea lake": [49406 320 1125 539 320 2102 2553 269 49407]
	// gradient × attention at the EOT token: [1 1 9]
}

// Gradients over training: GradHistory records the trainables' gradients
// at every step, before the optimizer uses them.
func ExampleGradHistory() {
	m := exampleCLIP()
	cfg := cocoop.DefaultCoCoOpConfig()
	cfg.Epochs = 1
	c, err := cocoop.NewCoCoOp(m, cfg, []string{"cat", "dog"})
	if err != nil {
		panic(err)
	}
	tr, err := cocoop.NewTrainer(c, cfg)
	if err != nil {
		panic(err)
	}
	var h cocoop.GradHistory
	tr.OnBackward = h.Recorder(c)
	src := &cocoop.SliceSource{Images: clip.HashTensor("example.train", 1, 0, 3, 3, 32, 32), Labels: []int{0, 1, 0}, BatchSize: 1}
	if err := tr.Train(context.Background(), src); err != nil {
		panic(err)
	}
	for _, s := range h.Steps {
		fmt.Printf("step %d: %d parameters, %d context vectors, ctx gradient > 0: %v\n",
			s.GlobalStep, len(s.Params), len(s.CtxVecGradNorms), s.Params[0].GradNorm > 0)
	}
	// Output:
	// step 1: 5 parameters, 4 context vectors, ctx gradient > 0: true
	// step 2: 5 parameters, 4 context vectors, ctx gradient > 0: true
	// step 3: 5 parameters, 4 context vectors, ctx gradient > 0: true
}
