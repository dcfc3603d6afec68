package clip_test

import (
	"testing"

	"github.com/gocoop/gocoop/clip"
	"github.com/gocoop/gocoop/internal/devicecheck"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// tiny is make_parity.py's TINY configuration.
var tiny = clip.Config{
	EmbedDim: 32, ImageResolution: 32, VisionLayers: 2, VisionWidth: 128, VisionHeads: 2,
	VisionPatchSize: 8, ContextLength: 77, VocabSize: 49408,
	TransformerWidth: 64, TransformerHeads: 1, TransformerLayers: 2,
}

// TestTinyOnFakeDevice runs the tiny CLIP forward and backward on the fake
// device of tensor/devicetest (the device dispatch over the CPU code)
// against the CPU: both towers, the logits, and the shared-prefix entry
// point, which takes the full route on a device (no packed attention
// there) against the CPU's packed shortcut. The GPU runs the same check
// (tensor/cuda's TestCLIPParity).
func TestTinyOnFakeDevice(t *testing.T) {
	devicecheck.CLIP(t, devicetest.New().Device(), tiny, 1e-5)
}
