package optim_test

import (
	"testing"

	"github.com/gocoop/gocoop/nn/nntest"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// TestOnFakeDevice runs SGD (four settings, the state through a host round
// trip), AdamW and ClipGradNorm on parameters on the fake device of
// tensor/devicetest against the CPU. The GPU runs the same check
// (bench/cuda's TestAutogradOnGPU).
func TestOnFakeDevice(t *testing.T) {
	nntest.Optimizers(t, devicetest.New().Device(), 1e-5)
}
