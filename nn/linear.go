package nn

import (
	"math"

	"github.com/gocoop/gocoop/autograd"
	"github.com/gocoop/gocoop/tensor"
)

// Linear is torch.nn.Linear: y = x·Wᵀ + b with Weight [out, in] and optional
// Bias [out]. Parameters "weight", "bias".
type Linear struct {
	Weight *autograd.Var // [out, in]
	Bias   *autograd.Var // [out], or nil
	In     int
	Out    int
}

// NewLinear builds a Linear with PyTorch's default init: kaiming-uniform with
// a = √5, i.e. W ~ U(±1/√in), and b ~ U(±1/√in). A nil rng leaves the
// parameters zero (for weights that will be loaded).
func NewLinear(in, out int, bias bool, rng *tensor.RNG) *Linear {
	l := &Linear{In: in, Out: out}
	bound := float32(1 / math.Sqrt(float64(in)))
	l.Weight = autograd.Param(uniformOrZeros(rng, bound, out, in))
	if bias {
		l.Bias = autograd.Param(uniformOrZeros(rng, bound, out))
	}
	return l
}

// Forward maps x [..., in] to [..., out].
func (l *Linear) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Linear(x, l.Weight, l.Bias)
}

// NamedParameters implements Module.
func (l *Linear) NamedParameters(prefix string) []NamedParam {
	return Collect(Leaf(prefix, "weight", l.Weight), Leaf(prefix, "bias", l.Bias))
}

// uniformOrZeros draws U(-bound, bound) of the given shape, or zeros when rng
// is nil.
func uniformOrZeros(rng *tensor.RNG, bound float32, shape ...int) *tensor.Tensor {
	if rng == nil {
		return tensor.Zeros(shape...)
	}
	return rng.Uniform(-bound, bound, shape...)
}
