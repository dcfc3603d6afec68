package clip_test

import (
	"testing"

	"github.com/gocoop/gocoop/clip/cliptest"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// TestTinyOnFakeDevice runs the tiny CLIP forward and backward on the fake
// device of tensor/devicetest (the device dispatch over the CPU code)
// against the CPU: both towers, the logits, and the shared-prefix entry
// point by its packed shortcut and by its full route. The GPU runs the same
// check (bench/cuda's TestCLIPParity).
func TestTinyOnFakeDevice(t *testing.T) {
	cliptest.CLIP(t, devicetest.New().Device(), cliptest.Tiny, 1e-5)
}
