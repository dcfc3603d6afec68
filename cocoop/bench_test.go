package cocoop

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocoop/gocoop/clip"
)

// BenchmarkViTB16 times CoCoOp and CoOp on ViT-B/16 shapes (hash weights):
// one training step at batch 1 and the evaluation of 4 images, for 10
// classes.
//
//	go test ./cocoop -run - -bench ViTB16 -benchtime 3x
func BenchmarkViTB16(b *testing.B) {
	m, err := clip.NewHashCLIP(clip.ViTB16)
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road", "Industrial Buildings",
		"Pasture Land", "Permanent Crop Land", "Residential Buildings", "River", "Sea or Lake"}
	imgs := clip.HashTensor("bench.images", 1, 0, 4, 3, 224, 224)
	for _, method := range []string{MethodCoCoOp, MethodCoOp} {
		cfg := DefaultCoCoOpConfig()
		cfg.Method = method
		l, err := NewLearner(m, cfg, names)
		if err != nil {
			b.Fatal(err)
		}
		feats := l.ImageFeatures(imgs)
		b.Run(method+"/image-features-x4", func(b *testing.B) {
			for b.Loop() {
				l.ImageFeatures(imgs)
			}
		})
		b.Run(fmt.Sprintf("%s/step-batch1-%dcls", method, len(names)), func(b *testing.B) {
			for b.Loop() {
				if _, err := l.ForwardBackward(imgs.Slice(0, 0, 1), []int{3}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/eval-logits-x4-%dcls", method, len(names)), func(b *testing.B) {
			for b.Loop() {
				l.LogitsFromFeatures(feats)
			}
		})
	}
}

// food50 is the first 50 Food-101 classes (realistic names of 1–6 tokens).
var food50 = []string{
	"apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad", "beignets", "bibimbap",
	"bread_pudding", "breakfast_burrito", "bruschetta", "caesar_salad", "cannoli", "caprese_salad", "carrot_cake",
	"ceviche", "cheesecake", "cheese_plate", "chicken_curry", "chicken_quesadilla", "chicken_wings", "chocolate_cake",
	"chocolate_mousse", "churros", "clam_chowder", "club_sandwich", "crab_cakes", "creme_brulee", "croque_madame",
	"cup_cakes", "deviled_eggs", "donuts", "dumplings", "edamame", "eggs_benedict", "escargots", "falafel",
	"filet_mignon", "fish_and_chips", "foie_gras", "french_fries", "french_onion_soup", "french_toast",
	"fried_calamari", "fried_rice", "frozen_yogurt", "garlic_bread", "gnocchi", "greek_salad", "grilled_cheese_sandwich",
}

// peakHeap runs f while sampling runtime.MemStats.HeapInuse every 5 ms and
// returns the largest value seen, in MiB.
func peakHeap(f func()) float64 {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return float64(peak.Load()) / (1 << 20)
}

// BenchmarkShortcutViTB16 times one CoCoOp training step on ViT-B/16
// shapes (hash weights) with 50 Food-101 classes, with the text-tower
// shortcut and with clip.TextTransformer.FullPrompts, at batch 1 and 8: "text" from precomputed
// image features (the part the shortcut changes), "step" with the image
// encoder. peak-heap-MiB is the largest HeapInuse sampled during one step.
//
//	go test ./cocoop -run - -bench ShortcutViTB16 -benchtime 2x
func BenchmarkShortcutViTB16(b *testing.B) {
	m, err := clip.NewHashCLIP(clip.ViTB16)
	if err != nil {
		b.Fatal(err)
	}
	imgs := clip.HashTensor("bench.images", 1, 0, 8, 3, 224, 224)
	labels := []int{3, 17, 29, 41, 0, 8, 49, 22}
	for _, batch := range []int{1, 8} {
		for _, full := range []bool{false, true} {
			if full && batch > 1 {
				continue
			}
			cfg := DefaultCoCoOpConfig()
			setFullPrompts(b, m, full)
			c, err := NewCoCoOp(m, cfg, food50)
			if err != nil {
				b.Fatal(err)
			}
			path := "shortcut"
			if full {
				path = "full-prompts"
			}
			x := imgs.Slice(0, 0, batch).Clone()
			feats := c.ImageFeatures(x)
			b.Run(fmt.Sprintf("text-batch%d/%s", batch, path), func(b *testing.B) {
				var peak float64
				for b.Loop() {
					peak = max(peak, peakHeap(func() { c.forwardBackward(feats, labels[:batch]) }))
				}
				b.ReportMetric(peak, "peak-heap-MiB")
			})
			b.Run(fmt.Sprintf("step-batch%d/%s", batch, path), func(b *testing.B) {
				for b.Loop() {
					if _, err := c.ForwardBackward(x, labels[:batch]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
