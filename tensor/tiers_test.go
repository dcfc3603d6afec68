package tensor

import (
	"testing"

	"github.com/gocoop/gocoop/asm"
)

// TestEveryTier reruns the reference tests whose ops reach asm kernels
// (matmul, elementwise, reductions, softmax, layer norm, the parallel paths,
// the same bits on any number of cores)
// on every kernel tier this machine supports, so one `go test` on an
// AVX-512 machine checks the tensor layer on avx512, avx2 and generic.
func TestEveryTier(t *testing.T) {
	defer asm.SetTier(asm.CurrentTier())
	for _, tier := range asm.SupportedTiers() {
		if err := asm.SetTier(tier); err != nil {
			t.Fatal(err)
		}
		t.Run(tier.String(), func(t *testing.T) {
			t.Run("MatMul", TestMatMulVsReference)
			t.Run("MatMulHalf", TestMatMulHalf)
			t.Run("PrepackLinear", TestPrepackLinear)
			t.Run("Binary", TestBinaryVsReference)
			t.Run("Unary", TestUnaryVsReference)
			t.Run("Reductions", TestReductionsVsReference)
			t.Run("Softmax", TestSoftmaxVsReference)
			t.Run("LayerNorm", TestLayerNormVsReference)
			t.Run("ParallelPaths", TestParallelPaths)
			t.Run("AnyCores", TestSameBitsAnyCores)
		})
	}
}
