package cocoop

import (
	"fmt"
	"testing"

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
