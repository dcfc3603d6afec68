package devicetest

import (
	"math"
	"testing"

	"github.com/gocoop/gocoop/tensor"
)

// The device-against-CPU checks of every layer (autograd/autogradtest,
// nn/nntest, clip/cliptest, cocoop/cocooptest) compare with Compare and
// CompareFloat: tensor.RelErr (max|Δ| / max|want|, the project's parity
// measure) against a stated bound, logged as
// "<name>  max |Δ| <abs>  rel <rel>", the line bench/cuda/run.sh tabulates.
// They run on this fake device in the ordinary tests and on the GPU in the
// CUDA test binary of bench/cuda.

// Compare checks got (on any device; downloaded) against want on the CPU:
// same shape and RelErr ≤ rel. It logs the measure and returns it.
func Compare(t testing.TB, name string, got, want *tensor.Tensor, rel float64) float64 {
	t.Helper()
	if got == nil || want == nil {
		if (got == nil) != (want == nil) {
			t.Errorf("%s: got %v, want %v (one is nil)", name, got != nil, want != nil)
		}
		return 0
	}
	h, err := got.To(tensor.CPU)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !tensor.SameShape(h.Shape(), want.Shape()) {
		t.Errorf("%s: shape %v, want %v", name, h.Shape(), want.Shape())
		return math.Inf(1)
	}
	e := tensor.RelErr(h, want)
	t.Logf("%-40s max |Δ| %.2e  rel %.2e", name, tensor.MaxAbsDiff(h, want), e)
	if !(e <= rel) {
		t.Errorf("%s: differs from the CPU by %.3g relative (max |Δ| %.3g), want ≤ %.1g", name, e, tensor.MaxAbsDiff(h, want), rel)
	}
	return e
}

// CompareFloat checks a scalar result, relative to |want| (absolute below 1).
func CompareFloat(t testing.TB, name string, got, want, rel float64) {
	t.Helper()
	e := math.Abs(got-want) / max(math.Abs(want), 1)
	t.Logf("%-40s max |Δ| %.2e  rel %.2e", name, math.Abs(got-want), e)
	if !(e <= rel) {
		t.Errorf("%s: %v on the device, %v on the CPU (relative %.3g, want ≤ %.1g)", name, got, want, e, rel)
	}
}

// To moves x to dev or fails the test.
func To(t testing.TB, x *tensor.Tensor, dev tensor.Device) *tensor.Tensor {
	t.Helper()
	y, err := x.To(dev)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// OnDevice fails the test unless x lives on dev.
func OnDevice(t testing.TB, name string, x *tensor.Tensor, dev tensor.Device) {
	t.Helper()
	if x.Device() != dev {
		t.Fatalf("%s: result on %v, want %v", name, x.Device(), dev)
	}
}

// Randn is a fresh tensor of the given shape with standard normal entries
// from the seeded RNG: the inputs of the device checks.
func Randn(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.NewRNG(seed).Normal(0, 1, shape...)
}
