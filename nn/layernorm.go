package nn

import (
	"github.com/gocoop/gocoop/autograd"
)

// LayerNorm is torch.nn.LayerNorm over the last axis: biased variance,
// eps 1e-5, affine Weight (ones) and Bias (zeros), both [D].
// Parameters "weight", "bias".
type LayerNorm struct {
	Weight *autograd.Var // [D]
	Bias   *autograd.Var // [D]
	Eps    float32
}

// NewLayerNorm builds the LayerNorm called name of width d, its parameters
// from p (fresh: PyTorch's ones and zeros).
func NewLayerNorm(p Params, name string, d int) *LayerNorm {
	return &LayerNorm{
		Weight: p(JoinName(name, "weight"), Constant(1), d),
		Bias:   p(JoinName(name, "bias"), Constant(0), d),
		Eps:    1e-5,
	}
}

// Forward normalizes x [..., D] over its last axis.
func (ln *LayerNorm) Forward(x *autograd.Var) *autograd.Var {
	return autograd.LayerNorm(x, ln.Weight, ln.Bias, ln.Eps)
}

// NamedParameters implements Module.
func (ln *LayerNorm) NamedParameters(prefix string) []NamedParam {
	return Collect(Leaf(prefix, "weight", ln.Weight), Leaf(prefix, "bias", ln.Bias))
}
