package clip_test

import (
	"testing"

	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// TestTinyOnFakeDevice runs the tiny CLIP forward and backward on the fake
// device of tensor/devicetest (the device dispatch over the CPU code)
// against the CPU: both towers, the logits, and the shared-prefix entry
// point, which takes the full route on a device (no packed attention
// there) against the CPU's packed shortcut. The GPU runs the same check
// (bench/cuda's TestCLIPParity).
func TestTinyOnFakeDevice(t *testing.T) {
	cliptest.CLIP(t, devicetest.New().Device(), cliptest.Tiny, 1e-5)
}
