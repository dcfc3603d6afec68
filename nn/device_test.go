package nn_test

import (
	"testing"

	"github.com/gocoop/gocoop/nn/nntest"
	"github.com/gocoop/gocoop/tensor/devicetest"
)

// TestModulesOnFakeDevice runs nn's modules (Sequential with ReLU,
// MultiheadAttention, ResidualAttentionBlock) forward and backward on the
// fake device of tensor/devicetest against the CPU, weights moved with
// nn.To. The GPU runs the same check (bench/cuda's TestAutogradOnGPU).
func TestModulesOnFakeDevice(t *testing.T) {
	nntest.Modules(t, devicetest.New().Device(), 1e-5)
}
