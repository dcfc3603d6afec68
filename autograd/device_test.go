package autograd_test

import (
	"testing"

	"github.com/gocoop/gocoop/internal/devicecheck"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// TestOnFakeDevice runs autograd's ops, nn's modules and the optimizers on
// the fake device of tensor/devicetest (the CPU code behind the device
// dispatch) against the CPU: a dispatch that loses a stride, an offset or a
// gradient, or reads device data on the host, fails here. The GPU runs the
// same checks (tensor/cuda).
func TestOnFakeDevice(t *testing.T) {
	devicecheck.Autograd(t, devicetest.New().Device(), 1e-5)
}
