package clip

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// RandSource supplies the random numbers of the training augmentation.
// *math/rand.Rand satisfies it; seed it for a deterministic pipeline.
type RandSource interface {
	Float64() float64 // uniform in [0, 1)
	Intn(n int) int   // uniform in [0, n)
}

// Defaults of torchvision's RandomResizedCrop, as used by CoOp/CoCoOp.
var (
	CropScale = [2]float64{0.08, 1.0}
	CropRatio = [2]float64{3.0 / 4.0, 4.0 / 3.0}
)

// PreprocessTrain is the CoOp/CoCoOp training transform (Dassl's
// "random_resized_crop", "random_flip", "normalize" with bicubic
// interpolation) on an image: convert("RGB") first, as Dassl does when it
// reads the file; then RandomResizedCrop(size, scale=(0.08, 1),
// ratio=(3/4, 4/3), BICUBIC); RandomHorizontalFlip(p=0.5); then ToTensor and
// CLIP's Normalize. It returns float32 CHW [3, size, size]. All randomness
// comes from rng, in torchvision's order of draws (area, log-ratio, top,
// left per attempt; then the flip), though not torch's generator.
func PreprocessTrain(img image.Image, size int, rng RandSource) ([]float32, error) {
	if size <= 0 {
		return nil, fmt.Errorf("clip: preprocess: size %d is not positive", size)
	}
	if rng == nil {
		return nil, errors.New("clip: preprocess: nil random source")
	}
	p, err := pixFromImage(img)
	if err != nil {
		return nil, err
	}
	p = p.toRGB()
	p.nearest = false
	top, left, h, w := randomResizedCropParams(p.w, p.h, CropScale, CropRatio, rng)
	p = resize(p.crop(left, top, w, h), size, size)
	if rng.Float64() < 0.5 {
		p.flipLR()
	}
	return normalizeCHW(p), nil
}

// randomResizedCropParams is torchvision's RandomResizedCrop.get_params:
// up to 10 attempts at a random area fraction in scale and a log-uniform
// aspect ratio in ratio, then a centre crop clamped to ratio as fallback.
// It returns top, left, height, width.
func randomResizedCropParams(width, height int, scale, ratio [2]float64, rng RandSource) (int, int, int, int) {
	area := float64(height * width)
	logR0, logR1 := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		targetArea := area * (scale[0] + (scale[1]-scale[0])*rng.Float64())
		aspect := math.Exp(logR0 + (logR1-logR0)*rng.Float64())
		w := roundHalfEven(math.Sqrt(targetArea * aspect))
		h := roundHalfEven(math.Sqrt(targetArea / aspect))
		if 0 < w && w <= width && 0 < h && h <= height {
			i := rng.Intn(height - h + 1)
			j := rng.Intn(width - w + 1)
			return i, j, h, w
		}
	}
	inRatio := float64(width) / float64(height)
	w, h := width, height
	switch {
	case inRatio < min(ratio[0], ratio[1]):
		h = roundHalfEven(float64(w) / min(ratio[0], ratio[1]))
	case inRatio > max(ratio[0], ratio[1]):
		w = roundHalfEven(float64(h) * max(ratio[0], ratio[1]))
	}
	return (height - h) / 2, (width - w) / 2, h, w
}
