package autograd_test

import (
	"testing"

	"github.com/gocoop/gocoop/autograd/autogradtest"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// TestOnFakeDevice runs autograd's ops forward and backward on the fake
// device of tensor/devicetest (the CPU code behind the device dispatch)
// against the CPU: a dispatch that loses a stride, an offset or a
// gradient, or reads device data on the host, fails here. nn's modules and
// the optimizers have theirs in nn and nn/optim; the GPU runs the same
// checks (bench/cuda's TestAutogradOnGPU).
func TestOnFakeDevice(t *testing.T) {
	autogradtest.Ops(t, devicetest.New().Device(), 1e-5)
}
