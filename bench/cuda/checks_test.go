//go:build cuda

package cuda_test

import (
	"strconv"
	"testing"

	"github.com/gocoop/gocoop/autograd/autogradtest"
	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/cocoop"
	"github.com/gocoop/gocoop/cocoop/cocooptest"
	"github.com/gocoop/gocoop/nn/nntest"
	"github.com/gocoop/gocoop/tensor/cuda"
)

// gpu skips the test or benchmark with the reason the device cannot be
// used ("no GPU: ...", which run.sh looks for).
func gpu(t testing.TB) *cuda.Backend {
	t.Helper()
	if err := cuda.Available(); err != nil {
		t.Skipf("no GPU: %v", err)
	}
	b, err := cuda.Get()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAutogradOnGPU runs autograd's ops (autogradtest.Ops), nn's modules
// (nntest.Modules) and the optimizers (nntest.Optimizers) on the GPU
// against the CPU: the checks the fake device runs in autograd's, nn's and
// nn/optim's tests.
func TestAutogradOnGPU(t *testing.T) {
	b := gpu(t)
	autogradtest.Ops(t, b.Device(), 1e-4)
	nntest.Modules(t, b.Device(), 1e-4)
	nntest.Optimizers(t, b.Device(), 1e-4)
}

// TestCLIPParity is cliptest.CLIP on the GPU: the tiny configuration and
// ViT-B/16, hash weights (clip.NewHashCLIP), both towers' features and
// gradients against the CPU. ViT-B/16 (12 layers of width 768) allows more
// float32 reordering.
func TestCLIPParity(t *testing.T) {
	b := gpu(t)
	t.Run("tiny", func(t *testing.T) { cliptest.CLIP(t, b.Device(), cliptest.Tiny, 1e-4) })
	if testing.Short() {
		t.Skip("ViT-B/16 skipped in -short mode")
	}
	t.Run("ViT-B/16", func(t *testing.T) { cliptest.CLIP(t, b.Device(), clip.ViTB16, 1e-3) })
}

// TestCoCoOpStep is cocooptest.LearnerStep on the GPU: one CoCoOp (and
// CoOp) training step and the evaluation after it against the CPU, on the
// tiny CLIP and on ViT-B/16 with 50 classes.
func TestCoCoOpStep(t *testing.T) {
	b := gpu(t)
	t.Run("tiny", func(t *testing.T) {
		cocooptest.LearnerStep(t, b.Device(), cliptest.Tiny, cocoop.MethodCoCoOp, food50[:6], 2, 1e-4)
		cocooptest.LearnerStep(t, b.Device(), cliptest.Tiny, cocoop.MethodCoOp, food50[:6], 2, 1e-4)
	})
	if testing.Short() {
		t.Skip("ViT-B/16 skipped in -short mode")
	}
	t.Run("ViT-B/16", func(t *testing.T) {
		cocooptest.LearnerStep(t, b.Device(), clip.ViTB16, cocoop.MethodCoCoOp, food50, 1, 1e-3)
	})
}

// food50 is the first 50 Food-101 classes (names of 1–6 tokens), as
// cocoop's benchmarks use.
var food50 = []string{
	"apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad", "beignets", "bibimbap",
	"bread_pudding", "breakfast_burrito", "bruschetta", "caesar_salad", "cannoli", "caprese_salad", "carrot_cake",
	"ceviche", "cheesecake", "cheese_plate", "chicken_curry", "chicken_quesadilla", "chicken_wings", "chocolate_cake",
	"chocolate_mousse", "churros", "clam_chowder", "club_sandwich", "crab_cakes", "creme_brulee", "croque_madame",
	"cup_cakes", "deviled_eggs", "donuts", "dumplings", "edamame", "eggs_benedict", "escargots", "falafel",
	"filet_mignon", "fish_and_chips", "foie_gras", "french_fries", "french_onion_soup", "french_toast",
	"fried_calamari", "fried_rice", "frozen_yogurt", "garlic_bread", "gnocchi", "greek_salad", "grilled_cheese_sandwich",
}

// names1000 is 1,000 distinct class names (food50 with a numbered word),
// for the 1,000-class steps.
func names1000() []string {
	out := make([]string, 0, 1000)
	for i := range 1000 {
		out = append(out, food50[i%50]+" "+strconv.Itoa(i/50))
	}
	return out
}
